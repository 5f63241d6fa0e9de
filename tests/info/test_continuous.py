import math

import torch
from torch.distributions import Laplace, MultivariateNormal, Normal, Uniform

from vaelab.info import continuous as C


def test_gaussian_entropy_closed_form_and_mc():
    d = Normal(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 2.0]))
    closed = C.entropy(d)
    assert torch.allclose(closed, 0.5 * torch.log(2 * math.pi * math.e * d.scale ** 2))
    mc = C.entropy(d, n=20000)
    assert abs(mc.value - float(closed.sum())) < 4 * mc.stderr
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    mvn = MultivariateNormal(torch.zeros(2), cov)
    assert math.isclose(float(C.entropy(mvn)),
                        0.5 * math.log((2 * math.pi * math.e) ** 2 * float(torch.det(cov))),
                        rel_tol=1e-6)


def test_gaussian_kl_closed_form_matches_mc():
    p = MultivariateNormal(torch.tensor([0.0, 1.0]), torch.tensor([[1.0, 0.3], [0.3, 0.5]]))
    q = MultivariateNormal(torch.tensor([0.5, 0.0]), torch.eye(2) * 1.5)
    closed = float(C.kl(p, q))
    mc = C.kl(p, q, n=40000)
    assert abs(mc.value - closed) < 4 * mc.stderr
    p1, q1 = Normal(0.0, 1.0), Normal(1.0, 2.0)
    by_hand = math.log(2.0) + (1 + 1) / (2 * 4) - 0.5
    assert math.isclose(float(C.kl(p1, q1)), by_hand, rel_tol=1e-6)


def test_monte_carlo_fallback_for_unregistered_pairs():
    from scipy.integrate import quad
    from torch.distributions import StudentT

    p, q = StudentT(5.0), Normal(0.0, 1.0)
    est = C.kl(p, q)  # torch has no closed form for StudentT || Normal: Monte Carlo
    assert isinstance(est, C.Estimate)

    def integrand(x):
        t = torch.tensor(x, dtype=torch.float64)
        lp, lq = p.log_prob(t), q.log_prob(t)
        return float(lp.exp() * (lp - lq))

    exact = quad(integrand, -60, 60, limit=200)[0]
    assert abs(est.value - exact) < 4 * est.stderr
    # a registered pair (Laplace || Normal): closed form and Monte Carlo agree
    lap = Laplace(0.0, 1.0)
    closed = float(C.kl(lap, q))
    exact_lap = -math.log(2) - 1 + 0.5 * math.log(2 * math.pi) + 1.0  # E[x^2] = 2 under Laplace
    assert math.isclose(closed, exact_lap, rel_tol=1e-6)
    mc = C.kl(lap, q, n=40000)
    assert abs(mc.value - closed) < 4 * mc.stderr


def test_gaussian_has_maximum_entropy_for_its_variance():
    var = 2.0
    gauss = float(Normal(0.0, math.sqrt(var)).entropy())
    half_width = math.sqrt(3 * var)  # Uniform(-a, a) has variance a^2 / 3
    uniform = float(Uniform(-half_width, half_width).entropy())
    laplace = float(Laplace(0.0, math.sqrt(var / 2)).entropy())  # variance 2 b^2
    assert gauss > laplace > uniform
    assert math.isclose(gauss, 0.5 * math.log(2 * math.pi * math.e * var), rel_tol=1e-6)
