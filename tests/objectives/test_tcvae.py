"""beta-TCVAE: the total correlation of the minibatch aggregate posterior on batches whose answer
is known, the objective's reduction to the ELBO at beta = 1, and training through the CLI."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal

import vaelab
from tests.models.test_protocol import make
from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.objectives import elbo, make_objective, total_correlation


def _q(loc, scale):
    return Independent(Normal(loc, scale), 1)


def test_identical_factorized_posteriors_have_zero_total_correlation():
    q = _q(torch.randn(1, 4).expand(6, 4), torch.rand(1, 4).add(0.2).expand(6, 4))
    z = q.sample((3,))
    assert total_correlation(z, q).abs().max() < 1e-5


def test_two_posteriors_on_the_diagonal_have_total_correlation_log_2():
    """q_B = (N((a, a), s^2 I) + N((-a, -a), s^2 I)) / 2 with a >> s: knowing z_1 tells z_2's
    component, one bit: TC = log 2 at every draw."""
    loc = torch.tensor([[5.0, 5.0], [-5.0, -5.0]])
    q = _q(loc, torch.full((2, 2), 0.3))
    z = q.sample((50,))
    tc = total_correlation(z, q)
    assert torch.allclose(tc, torch.full_like(tc, math.log(2)), atol=1e-4)
    # and none when the components differ along one axis only (the mixture factorizes)
    q1 = _q(torch.tensor([[5.0, 0.0], [-5.0, 0.0]]), torch.full((2, 2), 0.3))
    assert total_correlation(q1.sample((50,)), q1).abs().max() < 1e-4


def test_tc_weight_one_is_the_elbo_and_heavier_weights_penalise_tc():
    m, x = make("vae")
    est = make_estimator("reparam", 3, x[0].numel())
    torch.manual_seed(0)
    out1 = est(m, x, make_objective("tcvae", tc_weight=1.0))
    torch.manual_seed(0)
    s = est(m, x, make_objective("elbo")).samples
    assert torch.allclose(out1.samples.log_w, s.log_w)
    assert torch.allclose(make_objective("tcvae", tc_weight=1.0)(s), elbo(s.log_w))
    tc = total_correlation(s.z, s.q)
    heavy = make_objective("tcvae", tc_weight=6.0)(s)
    assert torch.allclose(heavy, (s.log_w - 5 * tc).mean(0), atol=1e-5)
    assert torch.allclose(make_objective("tcvae").bound(s.log_w), elbo(s.log_w))


def test_tcvae_needs_a_diagonal_gaussian_posterior_and_a_valid_weight():
    m, x = make("vae-2layers")
    est = make_estimator("reparam", 2, x[0].numel())
    with pytest.raises(ConfigError, match="tcvae needs a diagonal Gaussian posterior"):
        est.check(m, make_objective("tcvae"))  # refused before anything runs
    est.check(m, make_objective("tcvae", tc_weight=1.0))  # the ELBO: any model
    with pytest.raises(ConfigError, match="diagonal Gaussian"):
        est(m, x, make_objective("tcvae"))
    with pytest.raises(ConfigError, match="--tc-weight"):
        make_objective("tcvae", tc_weight=-1.0)


def test_training_a_tcvae_through_the_library(tmp_path):
    run = vaelab.train(out=tmp_path / "tc", model="convvae", dataset="shapes_small",
                       objective="tcvae", tc_weight=6.0, epochs=1, batch_size=64, eval_k=2,
                       progress=False)
    assert math.isfinite(run.record["train_tcvae_k1"])
