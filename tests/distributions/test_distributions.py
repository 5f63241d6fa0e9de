"""The distributions vaelab adds to torch.distributions, against direct computations."""

import itertools

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from vaelab.distributions import DiscretizedLogistic, GaussianChain, PointMass, stop_gradient
from vaelab.distributions.logistic import log1mexp
from vaelab.models.layers import GaussianLayer


@pytest.mark.parametrize("loc,log_scale", [(0.0, -3.0), (0.7, -1.0), (-0.99, -6.0), (3.0, 1.0)])
def test_discretized_logistic_sums_to_one_over_the_256_levels(loc, log_scale):
    levels = torch.arange(256, dtype=torch.float64) / 255
    d = DiscretizedLogistic(torch.full((256,), loc, dtype=torch.float64),
                            torch.full((256,), log_scale, dtype=torch.float64))
    lp = d.log_prob(levels)
    assert torch.isfinite(lp).all()
    assert abs(float(torch.logsumexp(lp, 0))) < 1e-9


def test_discretized_logistic_matches_the_cdf_difference():
    mu, s = 0.1, 0.05
    x = torch.tensor([100 / 255], dtype=torch.float64)
    d = DiscretizedLogistic(torch.tensor([mu], dtype=torch.float64),
                            torch.tensor([s], dtype=torch.float64).log())
    xs = 2 * x - 1

    def cdf(v):
        return torch.sigmoid((v - mu) / s)

    assert torch.allclose(d.log_prob(x).exp(), cdf(xs + 1 / 255) - cdf(xs - 1 / 255))
    assert torch.allclose(log1mexp(torch.tensor([1e-8, 0.5, 30.0], dtype=torch.float64)),
                          torch.log(1 - torch.exp(-torch.tensor([1e-8, 0.5, 30.0],
                                                                dtype=torch.float64))))


def test_gaussian_chain_is_the_product_of_its_factors_and_normalised():
    """A two-layer chain over 1 + 1 dimensions with linear-Gaussian steps is a bivariate
    Gaussian: compare log_prob with the closed form."""
    torch.manual_seed(0)
    step = GaussianLayer(1, [], 1)
    with torch.no_grad():
        step.net[0].weight.copy_(torch.tensor([[0.8], [0.0]]))
        step.net[0].bias.copy_(torch.tensor([0.3, 0.0]))
    first = Normal(torch.zeros(1, 1), torch.ones(1, 1))
    chain = GaussianChain(first, [step], [1, 1], "down")
    s2 = float(torch.nn.functional.softplus(torch.tensor(0.0))) + 1e-4
    mean = torch.tensor([0.0, 0.3])
    cov = torch.tensor([[1.0, 0.8], [0.8, 0.64 + s2 ** 2]])
    z = torch.randn(50, 1, 2)
    assert torch.allclose(chain.log_prob(z), MultivariateNormal(mean, cov).log_prob(z),
                          atol=1e-5)
    draws = chain.sample((20000,)).view(-1, 2)
    assert torch.allclose(torch.cov(draws.T), cov, atol=0.05)


def test_stop_gradient_keeps_values_and_cuts_only_parameters():
    loc = torch.randn(3, 2, requires_grad=True)
    q = Independent(Normal(loc, torch.ones(3, 2)), 1)
    z = q.rsample((4,))
    qs = stop_gradient(q)
    assert torch.allclose(qs.log_prob(z), q.log_prob(z))
    g, = torch.autograd.grad(qs.log_prob(z).sum(), loc)  # only through z: d/dloc of z = 1
    g_full, = torch.autograd.grad(q.log_prob(z).sum(), loc)
    assert not torch.allclose(g, g_full)
    mvn = MultivariateNormal(loc, scale_tril=torch.eye(2) * 2)
    assert not stop_gradient(mvn).log_prob(z.detach()).requires_grad


def test_point_mass():
    v = torch.randn(3, 4, requires_grad=True)
    p = PointMass(v)
    assert p.rsample((2,)).shape == (2, 3, 4) and p.rsample((2,)).requires_grad
    assert torch.equal(p.log_prob(p.rsample((5,))), torch.zeros(5, 3))
    assert list(itertools.islice(p.batch_shape, 1)) == [3]
