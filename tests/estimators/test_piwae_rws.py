"""PIWAE routes L_K's gradient to the decoder and MIWAE's to the encoder on the same draws;
reweighted wake-sleep's encoder update matches its closed form, -grad KL(p(z|x) || q(z|x)), in
expectation (linear-Gaussian model, large K)."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from tests.helpers import linear_gaussian, sample_data, train_bounds
from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.objectives import make_objective


def grads(m, est, obj, x, seed):
    torch.manual_seed(seed)
    out = est(m, x, obj)
    phi, theta = m.inference_parameters(), m.generative_parameters()
    g = torch.autograd.grad(out.surrogate.mean(), phi + theta, allow_unused=True)
    flat = [t.flatten() if t is not None else torch.zeros(p.numel())
            for t, p in zip(g, phi + theta)]
    n = sum(p.numel() for p in phi)
    v = torch.cat(flat)
    return v[:n], v[n:]


def test_piwae_gives_the_decoder_iwae_and_the_encoder_miwae():
    m = linear_gaussian(D=6, d=3, seed=0)
    x = sample_data(m, 8)
    est = make_estimator("reparam", 8)
    phi_p, theta_p = grads(m, est, make_objective("piwae", groups=4), x, 1)
    phi_i, theta_i = grads(m, est, make_objective("iwae"), x, 1)
    phi_m, theta_m = grads(m, est, make_objective("miwae", groups=4), x, 1)
    assert torch.allclose(theta_p, theta_i, atol=1e-5)
    assert torch.allclose(phi_p, phi_m, atol=1e-5)
    assert not torch.allclose(phi_p, phi_i, atol=1e-3)  # the two bounds do differ


def test_piwae_needs_reparam_and_whole_groups():
    m = linear_gaussian()
    for name in ("stl", "dreg", "score_function"):
        with pytest.raises(ConfigError, match="different bounds"):
            make_estimator(name, 4).check(m, make_objective("piwae", groups=2))
    with pytest.raises(ConfigError, match="multiple"):
        make_objective("piwae", groups=3).check_samples(4)


def test_wake_phi_matches_minus_the_gradient_of_the_inclusive_kl():
    """Mean of 30 wake-phi estimates with K = 4000 (q close to the posterior, so the weights
    are tame) against -grad_phi KL(p(z|x) || q(z|x)) in closed form: relative error < 5%."""
    m = linear_gaussian(D=6, d=3, seed=0, q_noise=0.1)
    x = sample_data(m, 4)
    phi = m.inference_parameters()
    post = m.exact_posterior(x)
    q = m.posterior(x)
    qf = MultivariateNormal(q.mean, scale_tril=torch.diag_embed(q.stddev))
    exact = torch.autograd.grad(-kl_divergence(MultivariateNormal(
        post.mean.detach(), post.covariance_matrix.detach()), qf).mean(), phi)
    exact = torch.cat([g.flatten() for g in exact])
    est, obj = make_estimator("rws", 4000), make_objective("iwae")
    runs = torch.stack([grads(m, est, obj, x, s)[0] for s in range(30)])
    mean, se = runs.mean(0), runs.std(0) / math.sqrt(len(runs))
    assert (mean - exact).norm() < 0.05 * exact.norm() + 3 * se.norm(), (mean, exact)


def test_rws_trains_a_discrete_model():
    from vaelab.models import build_model

    torch.manual_seed(0)
    m = build_model("sbn", {"units": 8}, (1, 4, 4), "bernoulli")
    x = torch.bernoulli(torch.full((100, 1, 4, 4), 0.3))
    est, obj = make_estimator("rws", 5), make_objective("iwae")
    first, last = train_bounds(m, est, obj, x, 80, 3e-2)
    assert last > first + 1.0
