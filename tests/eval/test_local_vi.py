"""Local variational inference and the gap decomposition on the linear-Gaussian model, where the
posterior is an exact (correlated) Gaussian: the best mean-field q leaves exactly
KL(q* || p(z|x)) = 1/2 (sum_i log Lambda_ii - log det Lambda) (Lambda the posterior precision),
and a full-covariance q reaches the posterior itself."""

import pytest
import torch

from tests.helpers import linear_gaussian, sample_data
from vaelab.errors import ConfigError
from vaelab.eval.ais import AISConfig
from vaelab.eval.gaps import decompose, inference_gaps
from vaelab.eval.local_vi import LocalVIConfig, elbo_estimate, local_vi


@pytest.fixture(scope="module")
def lg():
    m = linear_gaussian(D=8, d=3, seed=0)  # correlated posterior; q perturbed from it
    x = sample_data(m, 20)
    return m, x, m.exact_log_marginal(x).detach().double()


def closed_form_mean_field_gap(m) -> float:
    precision = torch.linalg.inv(m.posterior_covariance().detach().double())
    return float(0.5 * (precision.diagonal().log().sum() - torch.logdet(precision)))


def test_mean_field_gap_equals_its_closed_form(lg):
    m, x, exact = lg
    torch.manual_seed(0)
    r = local_vi(m, x, LocalVIConfig(family="diagonal", eval_samples=4000))
    gap = exact - r.elbo
    expected = closed_form_mean_field_gap(m)
    assert expected > 0.05  # the posterior is correlated, so mean field cannot be exact
    mc = float(r.elbo_stderr.pow(2).sum().sqrt() / len(x))
    assert abs(float(gap.mean()) - expected) < 4 * mc + 0.01, (float(gap.mean()), expected, mc)
    assert r.converged.all()


def test_full_covariance_q_reaches_the_exact_posterior(lg):
    m, x, exact = lg
    torch.manual_seed(0)
    r = local_vi(m, x, LocalVIConfig(family="full", samples=64, tol=0.002, lr=5e-3,
                                     eval_samples=4000))
    post = m.exact_posterior(x)
    assert torch.allclose(r.q.mean, post.mean, atol=0.03)
    assert torch.allclose(r.q.covariance_matrix, post.covariance_matrix, atol=0.01)
    assert abs(float((exact - r.elbo).mean())) < 0.02


def test_local_vi_improves_on_the_encoder(lg):
    m, x, _ = lg
    torch.manual_seed(0)
    amortized, _ = elbo_estimate(m, x, m.posterior(x), 2000)
    r = local_vi(m, x)
    assert (r.elbo > amortized).float().mean() > 0.9
    assert all(p.requires_grad for p in m.parameters())


def test_the_decomposition_adds_up_exactly_per_example():
    g = torch.Generator().manual_seed(0)
    a, b, c, e1, e2, e3 = (torch.randn(50, generator=g, dtype=torch.float64) for _ in range(6))
    d = decompose(a, e1.abs(), b, e2.abs(), c, e3.abs())
    assert torch.equal(d["approximation"][0] + d["amortization"][0], d["total"][0]) or \
        torch.allclose(d["approximation"][0] + d["amortization"][0], d["total"][0], rtol=0,
                       atol=1e-12)
    assert torch.allclose(d["total"][1] ** 2, e1 ** 2 + e3 ** 2)


def test_gap_table_on_the_linear_gaussian_model(lg):
    """log p(x) comes from the better estimate (AIS here: the perturbed encoder is a poor IS
    proposal) and matches the exact value; the amortization gap is what q's perturbation costs
    (positive), the approximation gap the mean-field closed form."""
    m, x, exact = lg
    torch.manual_seed(0)
    out = inference_gaps(m, x, is_k=500, ais_config=AISConfig(steps=200, chains=8),
                         vi_config=LocalVIConfig(eval_samples=2000))
    rows = out["rows"]
    assert out["log_px_source"] == "ais"
    assert rows["ais"]["mean"] == pytest.approx(float(exact.mean()), abs=0.05)
    assert rows["is_k500"]["mean"] < rows["ais"]["mean"]
    total = rows["approximation_gap"]["mean"] + rows["amortization_gap"]["mean"]
    assert total == pytest.approx(rows["total_gap"]["mean"], abs=1e-9)
    assert rows["amortization_gap"]["mean"] > 0.5
    assert rows["approximation_gap"]["mean"] == pytest.approx(closed_form_mean_field_gap(m),
                                                              abs=0.06)


@pytest.mark.parametrize("opts,match", [({"family": "flow"}, "family"),
                                        ({"max_steps": 0}, "max-steps"),
                                        ({"lr": float("nan")}, "lr"),
                                        ({"tol": -1}, "tol")])
def test_bad_local_vi_settings(opts, match):
    with pytest.raises(ConfigError, match=match):
        LocalVIConfig(**opts)


def test_gaps_at_their_defaults_match_the_closed_forms():
    """`vaelab gaps` at its defaults (IS K = 5000, local VI's defaults) on a linear-Gaussian
    model: ELBO* is the closed-form best mean-field ELBO, so the approximation gap is
    log p(x) - ELBO*_closed and the amortization gap ELBO*_closed - ELBO(encoder), both within
    4 of the table's own Monte Carlo errors (no other slack)."""
    m = linear_gaussian(D=8, d=3, seed=0, q_noise=0.05)
    x = sample_data(m, 30)
    torch.manual_seed(0)
    out = inference_gaps(m, x)
    rows = out["rows"]
    exact = m.exact_log_marginal(x).detach().double()
    star = exact - closed_form_mean_field_gap(m)
    amortized = m.closed_form_elbo(x).detach().double()
    assert out["local_vi_not_converged"] == 0 and out["warning"] is None
    assert abs(rows["elbo_star"]["mean"] - float(star.mean())) < 4 * rows["elbo_star"][
        "mc_stderr"]
    approx, amort = rows["approximation_gap"], rows["amortization_gap"]
    assert abs(approx["mean"] - float((exact - star).mean())) < 4 * approx["mc_stderr"]
    assert abs(amort["mean"] - float((star - amortized).mean())) < 4 * amort["mc_stderr"]


def test_a_log_px_estimate_below_elbo_star_is_not_shown_as_a_gap():
    """IS with K = 1 from a poor encoder lies below ELBO*: the approximation gap is marked
    unmeasured, with the reason, instead of printed negative."""
    m = linear_gaussian(D=8, d=3, seed=0, q_noise=0.6)
    x = sample_data(m, 20)
    torch.manual_seed(0)
    out = inference_gaps(m, x, is_k=1, vi_config=LocalVIConfig(eval_samples=500))
    rows = out["rows"]
    assert rows["approximation_gap"]["mean"] < 0
    assert rows["approximation_gap"]["measured"] is False and not rows["total_gap"]["measured"]
    assert "amortization_gap" in rows and "measured" not in rows["amortization_gap"]
    assert out["examples_log_px_below_elbo_star"] > 10 and "too loose" in out["warning"]
