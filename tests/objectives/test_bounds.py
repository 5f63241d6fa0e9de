"""Bounds against closed forms on a linear-Gaussian model where log p(x) is exact."""

import math

import torch

from tests.helpers import linear_gaussian, sample_data
from vaelab.objectives import (
    effective_sample_size,
    elbo,
    elbo_analytic_kl,
    grouped_iwae_bound,
    iwae_bound,
)


def test_iwae_is_logsumexp_and_stable():
    log_w = torch.tensor([[-1000.0], [-1001.0]])
    expected = -1000 + math.log((1 + math.exp(-1)) / 2)
    assert abs(float(iwae_bound(log_w)) - expected) < 1e-4  # naive exp() underflows to -inf


def test_L1_equals_elbo_and_jensen():
    log_w = torch.randn(7, 4) * 3
    assert torch.allclose(iwae_bound(log_w[:1]), elbo(log_w[:1]))
    assert (iwae_bound(log_w) >= elbo(log_w)).all()


def test_grouped_bound_is_mean_over_disjoint_groups():
    log_w = torch.randn(12, 3)
    manual = torch.stack([iwae_bound(log_w[i:i + 4]) for i in (0, 4, 8)]).mean(0)
    assert torch.allclose(grouped_iwae_bound(log_w, 4), manual)
    assert torch.allclose(grouped_iwae_bound(log_w, 12), iwae_bound(log_w))


def test_LK_increases_with_K_and_approaches_log_px():
    m = linear_gaussian()
    x = sample_data(m, 20)
    exact = m.exact_log_marginal(x).detach()
    with torch.no_grad():
        lw = m.log_weights(x, 20000)  # [K, B]
    ks = [1, 2, 5, 10, 50, 200, 1000]
    means = [float(grouped_iwae_bound(lw, k).mean()) for k in ks]
    assert all(a < b for a, b in zip(means, means[1:])), means  # L_K <= L_K+1
    gap1, gapK = float(exact.mean()) - means[0], float(exact.mean()) - means[-1]
    assert gap1 > 0.2  # q is not the posterior, so the ELBO is loose
    assert 0 <= gapK < 0.1 * gap1  # and L_1000 closes >90% of the gap
    # every L_K stays below log p(x) per example (up to MC error of the group mean)
    assert float((grouped_iwae_bound(lw, 1000) - exact).max()) < 0.02


def test_exact_posterior_gives_zero_variance_weights():
    m = linear_gaussian(exact_q=True)
    x = sample_data(m, 10)
    with torch.no_grad():
        lw = m.log_weights(x, 50)
    exact = m.exact_log_marginal(x)
    assert torch.allclose(lw, exact.expand_as(lw), atol=2e-3)  # w = p(x) for every z
    assert torch.allclose(effective_sample_size(lw), torch.full((10,), 50.0), rtol=1e-2)


def test_analytic_kl_and_monte_carlo_elbo_agree():
    m = linear_gaussian()
    x = sample_data(m, 8)
    with torch.no_grad():
        q = m.posterior(x)
        z = q.sample((40000,))
        log_w = m.log_joint(x, z) - q.log_prob(z)
        mc = elbo(log_w)
        se = log_w.std(0) / math.sqrt(len(log_w))
        analytic = elbo_analytic_kl(m.log_likelihood(x, z), m.analytic_kl(q))
        closed = m.closed_form_elbo(x)
    assert ((mc - closed).abs() < 4 * se).all()
    # analytic KL removes the KL's sampling noise only: same value within the MC error
    assert ((analytic - closed).abs() < 4 * se).all()
    assert (closed < m.exact_log_marginal(x)).all()


def test_both_derivations_of_the_elbo():
    """Lecture, derivation 1: log p(x) = ELBO + KL(q(z|x) || p(z|x)) exactly (the gap is the
    KL to the true posterior). Derivation 2 (Jensen): E_q log w <= log E_q w = log p(x)."""
    from torch.distributions import MultivariateNormal, kl_divergence

    m = linear_gaussian(q_noise=0.3)
    x = sample_data(m, 5)
    with torch.no_grad():
        q = m.encoder(x)
        q_full = MultivariateNormal(q.loc, scale_tril=torch.diag_embed(q.scale))
        gap = kl_divergence(q_full, m.exact_posterior(x))
        assert torch.allclose(m.closed_form_elbo(x) + gap, m.exact_log_marginal(x), atol=1e-4)
        assert (gap > 0).all()
        m2 = linear_gaussian(q_noise=0.05)  # a q good enough for plain importance sampling
        lw = m2.log_weights(x, 200000)
        # Monte Carlo: log of the mean weight -> log p(x); mean of log weights -> the ELBO
        assert torch.allclose(iwae_bound(lw), m2.exact_log_marginal(x), atol=0.05)
        assert (elbo(lw) < iwae_bound(lw) - 0.05).all()
