"""The multi-sample objectives against their limits and closed forms: the Renyi bound is L_K at
alpha = 0, the ELBO at alpha = 1, non-increasing in alpha, and (many draws) log p(x) minus the
closed-form Renyi divergence between q and the exact posterior of the linear-Gaussian model;
MIWAE and CIWAE reduce to L_K and the ELBO at their ends."""

import json
import math

import pytest
import torch

from tests.helpers import linear_gaussian, sample_data
from vaelab.errors import ConfigError
from vaelab.objectives import (
    ciwae_bound,
    elbo,
    iwae_bound,
    make_objective,
    miwae_bound,
    renyi_bound,
)


def test_renyi_ends_and_monotonicity():
    torch.manual_seed(0)
    log_w = 3 * torch.randn(50, 7, dtype=torch.float64)
    assert torch.allclose(renyi_bound(log_w, 0.0), iwae_bound(log_w))
    assert torch.allclose(renyi_bound(log_w, 1.0), elbo(log_w))
    assert torch.allclose(renyi_bound(log_w, 1 - 1e-7), elbo(log_w), atol=1e-4)
    values = torch.stack([renyi_bound(log_w, a) for a in torch.linspace(0, 1, 11).tolist()])
    assert (values.diff(dim=0) <= 1e-9).all()


def renyi_divergence(m0, S0, m1, S1, alpha):
    """D_alpha(N(m0, S0) || N(m1, S1)) = 1/(alpha - 1) log int q^alpha p^(1 - alpha), for
    alpha in (0, 1): with S_a = alpha S1 + (1 - alpha) S0,
    alpha/2 (m0 - m1)' S_a^-1 (m0 - m1) - 1/(2 (alpha - 1)) log(det S_a / (det S0^(1 - alpha)
    det S1^alpha))."""
    Sa = alpha * S1 + (1 - alpha) * S0
    d = m0 - m1
    quad = torch.einsum("bi,bij,bj->b", d, torch.linalg.inv(Sa), d)
    logdet = (torch.logdet(Sa) - (1 - alpha) * torch.logdet(S0) - alpha * torch.logdet(S1))
    return alpha / 2 * quad - logdet / (2 * (alpha - 1))


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_renyi_bound_is_log_p_minus_the_closed_form_divergence(alpha):
    """With K = 200000 draws the bound's Monte Carlo bias is negligible here: it must match
    log p(x) - D_alpha(q || p(z|x)) within 0.02 nats per example."""
    m = linear_gaussian(D=6, d=2, seed=0, q_noise=0.05)
    x = sample_data(m, 5)
    with torch.no_grad():
        m.set_q_overdispersed(widen=1.3)  # q wider than the posterior: every moment exists
        q = m.posterior(x)
        post = m.exact_posterior(x)
        exact = m.exact_log_marginal(x).double() - renyi_divergence(
            q.mean.double(), torch.diag_embed(q.variance).double(), post.mean.double(),
            post.covariance_matrix.double(), alpha)
        torch.manual_seed(1)
        mc = renyi_bound(m.log_weights(x, 200_000).double(), alpha)
    assert torch.allclose(mc, exact, atol=0.02), (mc, exact)


def test_miwae_and_ciwae_ends():
    torch.manual_seed(0)
    log_w = torch.randn(12, 5, dtype=torch.float64)
    assert torch.allclose(miwae_bound(log_w, 1), iwae_bound(log_w))
    assert torch.allclose(miwae_bound(log_w, 12), elbo(log_w))
    assert torch.allclose(miwae_bound(log_w, 3), torch.stack(
        [iwae_bound(g) for g in log_w.split(4)]).mean(0))
    assert torch.allclose(ciwae_bound(log_w, 1.0), elbo(log_w))
    assert torch.allclose(ciwae_bound(log_w, 0.0), iwae_bound(log_w))
    b = ciwae_bound(log_w, 0.3)
    assert ((elbo(log_w) <= b + 1e-12) & (b <= iwae_bound(log_w) + 1e-12)).all()


def test_bad_options():
    with pytest.raises(ConfigError, match="--alpha"):
        make_objective("renyi", alpha=1.5)
    with pytest.raises(ConfigError, match="--groups"):
        make_objective("miwae", groups=0)
    with pytest.raises(ConfigError, match="--elbo-weight"):
        make_objective("ciwae", elbo_weight=-0.1)
    with pytest.raises(ConfigError, match="multiple"):
        make_objective("miwae", groups=3).check_samples(10)


@pytest.mark.parametrize("name,opts", [("renyi", ["--alpha", "0.5"]),
                                       ("miwae", ["--groups", "2"]),
                                       ("ciwae", ["--elbo-weight", "0.5"])])
def test_training_with_each_objective(tmp_path, name, opts):
    from vaelab.cli.main import main

    out = tmp_path / name
    assert main(["train", "--objective", name, *opts, "--k", "4", "--epochs", "1", "--hidden",
                 "16", "--latent", "3", "--eval-k", "2", "--batch-size", "500", "--out",
                 str(out), "--no-progress"]) == 0
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(last[f"train_{name}_k4"])
