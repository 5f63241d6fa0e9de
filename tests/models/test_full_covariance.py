"""Full-covariance Gaussian posteriors (the lecture's z = mu + Sigma^(1/2) eps): on the
linear-Gaussian model a full-covariance q can equal the exact posterior, and then every
log-weight is log p(x) itself, L_1 = log p(x) exactly, and STL's encoder gradient vanishes;
the MLP VAE trains with it under every pathwise estimator."""

import pytest
import torch
from torch.distributions import MultivariateNormal

from tests.helpers import sample_data, train_bounds
from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.models import LinearGaussianVAE, build_model
from vaelab.models.layers import scale_tril
from vaelab.objectives import make_objective


def model_with_correlated_posterior(seed: int = 0) -> LinearGaussianVAE:
    g = torch.Generator().manual_seed(seed)
    m = LinearGaussianVAE(8, 3, posterior="full")
    with torch.no_grad():
        m.decoder.linear.weight.copy_(torch.randn(8, 3, generator=g))
        m.decoder.linear.bias.copy_(torch.randn(8, generator=g))
        m.decoder.raw_std.copy_(torch.randn(8, generator=g) * 0.3)
    return m


def test_the_exact_posterior_makes_every_log_weight_log_p_x():
    m = model_with_correlated_posterior()
    m.set_q_to_exact_posterior()
    x = sample_data(m, 10)
    exact = m.exact_log_marginal(x)
    with torch.no_grad():
        lw = m.log_weights(x, 50)
        S = m.posterior_covariance()
    corr = S / (S.diagonal()[:, None] * S.diagonal()[None]).sqrt()
    assert (corr - torch.eye(3)).abs().max() > 0.2  # genuinely correlated
    assert torch.allclose(lw, exact.expand_as(lw), atol=1e-4)
    assert torch.allclose(m.closed_form_elbo(x), exact, atol=1e-4)
    q = m.posterior(x)
    assert torch.allclose(q.covariance_matrix[0], S, atol=1e-5)


def test_stl_encoder_gradient_vanishes_at_the_exact_posterior_and_reparam_does_not():
    m = model_with_correlated_posterior()
    m.set_q_to_exact_posterior()
    x = sample_data(m, 10)
    phi = m.inference_parameters()
    torch.manual_seed(0)
    for name, zero in (("stl", True), ("reparam", False)):
        out = make_estimator(name, 4)(m, x, make_objective("elbo"))
        grads = torch.autograd.grad(out.surrogate.mean(), phi)
        norm = float(sum(g.norm() ** 2 for g in grads) ** 0.5)
        assert (norm < 1e-4) == zero, (name, norm)


def test_closed_form_elbo_of_a_full_q_matches_monte_carlo():
    m = model_with_correlated_posterior()
    with torch.no_grad():
        m.encoder.lower.copy_(torch.tensor([0.3, -0.2, 0.1]))
    x = sample_data(m, 6)
    torch.manual_seed(1)
    with torch.no_grad():
        lw = m.log_weights(x, 100_000)
    se = lw.std(0) / 100_000 ** 0.5
    assert ((lw.mean(0) - m.closed_form_elbo(x)).abs() < 5 * se + 1e-4).all()


def test_scale_tril_is_a_valid_cholesky_factor():
    L = scale_tril(torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.5, -1.0, 3.0]))
    assert torch.equal(L, torch.tril(L)) and (L.diagonal() > 0).all()
    MultivariateNormal(torch.zeros(3), scale_tril=L)  # validates


@pytest.mark.parametrize("estimator", ["reparam", "stl", "dreg"])
def test_the_vae_trains_with_a_full_covariance_posterior(estimator):
    torch.manual_seed(0)
    m = build_model("vae", {"hidden": 16, "latent": 3, "posterior": "full"}, (1, 4, 4),
                    "bernoulli")
    x = torch.bernoulli(torch.full((64, 1, 4, 4), 0.3))
    q = m.posterior(x)
    assert isinstance(q, MultivariateNormal) and q.event_shape == (3,)
    est, obj = make_estimator(estimator, 4), make_objective("iwae")
    first, last = train_bounds(m, est, obj, x, 60, 1e-2)
    assert last > first + 0.5


def test_full_covariance_needs_one_stochastic_layer():
    with pytest.raises(ConfigError, match="one stochastic layer"):
        build_model("vae", {"layers": 2, "posterior": "full"}, (1, 4, 4), "bernoulli")
