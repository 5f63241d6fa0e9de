"""The lecture's information-theory remarks as checks with numbers (docs/tutorials/information.md
lists them): mutual information sees dependence that covariance misses; the Gaussian has the
largest entropy for its variance and sums of independent variables approach it; a decoder that
is p_data(x) leaves z nothing to encode, and E[VLB] <= E log p_theta <= E log p_data."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Laplace, Normal, Uniform

from vaelab.info import continuous, discrete


def test_zero_covariance_with_positive_mutual_information_discrete():
    """X uniform on {-1, 0, 1}, Y = X^2: Cov = E[X^3] = 0, yet Y is a function of X, so
    I(X; Y) = H(Y) = H(1/3, 2/3) = ln 3 - (2/3) ln 2 = 0.6365 nats."""
    xs, ys = torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([0.0, 1.0])
    joint = torch.zeros(3, 2, dtype=torch.float64)
    for i, x in enumerate(xs):
        joint[i, int(x * x)] = 1 / 3
    px, py = joint.sum(1), joint.sum(0)
    cov = (joint * xs[:, None] * ys[None, :]).sum() - (px * xs).sum() * (py * ys).sum()
    assert abs(float(cov)) < 1e-12
    mi = float(discrete.mutual_information(joint, base=math.e))
    assert mi == pytest.approx(math.log(3) - 2 / 3 * math.log(2), abs=1e-12)
    assert mi == pytest.approx(float(discrete.entropy(py, base=math.e)), abs=1e-12)


def test_zero_covariance_with_positive_mutual_information_continuous():
    """z ~ N(0, 1), a random sign s, y = s z + 0.5 eps: Cov(z, y) = E[s] E[z^2] = 0 and y is
    N(0, 1.25) like an independent variable would be, yet I(z; y) > 0.3 nats: by quadrature,
    and by Monte Carlo within 4 standard errors. A jointly Gaussian pair with zero covariance
    has I = 0."""
    sigma = 0.5
    zg = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    dz = zg[1] - zg[0]
    pz = Normal(0.0, 1.0).log_prob(zg).exp()
    yg = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    dy = yg[1] - yg[0]
    cond = 0.5 * (Normal(zg[:, None], sigma).log_prob(yg).exp()
                  + Normal(-zg[:, None], sigma).log_prob(yg).exp())  # p(y|z) [z, y]
    h_cond = -(cond * torch.log(cond.clamp_min(1e-300))).sum(1) * dy  # H(y|z) per z
    h_y = 0.5 * math.log(2 * math.pi * math.e * (1 + sigma ** 2))  # y ~ N(0, 1 + sigma^2)
    mi = h_y - float((pz * h_cond).sum() * dz)
    assert mi > 0.3

    g = torch.Generator().manual_seed(0)
    n = 200_000
    z = torch.randn(n, generator=g, dtype=torch.float64)
    s = torch.randint(0, 2, (n,), generator=g).double() * 2 - 1
    y = s * z + sigma * torch.randn(n, generator=g, dtype=torch.float64)
    c = ((z - z.mean()) * (y - y.mean())).mean()
    assert abs(float(c)) < 4 * float((z * y).std()) / math.sqrt(n)
    log_cond = torch.logaddexp(Normal(z, sigma).log_prob(y), Normal(-z, sigma).log_prob(y)) \
        - math.log(2)
    terms = log_cond - Normal(0.0, math.sqrt(1 + sigma ** 2)).log_prob(y)
    assert abs(float(terms.mean()) - mi) < 4 * float(terms.std()) / math.sqrt(n)


def test_the_gaussian_has_the_largest_entropy_for_its_variance():
    """Unit variance: N(0, 1) 1.4189 > Laplace(b = 1/sqrt 2) 1.3466 > Uniform(+-sqrt 3) 1.2425
    nats (closed forms from torch.distributions)."""
    dists = [Normal(0.0, 1.0), Laplace(0.0, 1 / math.sqrt(2)),
             Uniform(-math.sqrt(3), math.sqrt(3))]
    for d in dists:
        assert float(d.variance) == pytest.approx(1.0, abs=1e-6)
    h = [float(continuous.entropy(d)) for d in dists]
    assert h[0] == pytest.approx(0.5 * math.log(2 * math.pi * math.e), abs=1e-6)
    assert h[0] > h[1] > h[2]


def test_standardized_sums_of_uniforms_approach_the_gaussian_entropy():
    """The central-limit remark, in entropy: (U_1 + ... + U_n) / sqrt(n) with U uniform of
    variance 1 has entropy rising with n toward 0.5 ln(2 pi e) (monotone, as Artstein et al.
    2004 proved), within 0.01 nats by n = 8. Densities by repeated convolution on a grid."""
    dx = 2e-3
    half = math.sqrt(3)
    u = np.full(int(round(2 * half / dx)), 1 / (2 * half))
    gauss = 0.5 * math.log(2 * math.pi * math.e)
    density, gaps = u, []
    for n in range(1, 9):
        if n > 1:
            density = np.convolve(density, u) * dx
        # Y = S / sqrt(n): p_Y(y) = sqrt(n) p_S(sqrt(n) y), so H(Y) = H(S) - ln sqrt(n)
        p = density[density > 0]
        h = float(-(p * np.log(p)).sum() * dx) - 0.5 * math.log(n)
        gaps.append(gauss - h)
    assert all(g > 0 for g in gaps)  # no distribution of variance 1 beats the Gaussian
    assert all(a > b for a, b in zip(gaps, gaps[1:]))  # monotone approach
    assert gaps[0] == pytest.approx(gauss - math.log(2 * half), abs=1e-3)
    assert gaps[-1] < 0.01


def _enumerable_model(seed: int, decoder_is_data: bool):
    g = torch.Generator().manual_seed(seed)
    p_data = torch.softmax(torch.randn(6, generator=g, dtype=torch.float64), 0)
    prior = torch.softmax(torch.randn(3, generator=g, dtype=torch.float64), 0)
    decoder = (p_data.expand(3, 6).clone() if decoder_is_data
               else torch.softmax(torch.randn(3, 6, generator=g, dtype=torch.float64), 1))
    return p_data, prior, decoder


def _elbo(q: torch.Tensor, prior: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
    """Exact ELBO per x: sum_z q(z|x) [log p(x|z) + log p(z) - log q(z|x)], q ``[x, z]``."""
    return (q * (decoder.T.log() + prior.log() - q.log())).sum(1)


def test_a_decoder_that_is_p_data_leaves_z_no_information():
    """If p(x|z) = p_data(x): the posterior is the prior, so I(z; x) = 0 under the model's
    joint; VLB = E log p_data - E KL(q(z|x) || p(z)), maximized with rate 0 by an encoder that
    learns to ignore x (from a random start, by gradient ascent on the exact ELBO)."""
    p_data, prior, decoder = _enumerable_model(0, decoder_is_data=True)
    joint = prior[:, None] * decoder  # p(z, x)
    assert float(discrete.mutual_information(joint, base=math.e)) < 1e-12
    logits = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1),
                         requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    for _ in range(500):
        q = torch.softmax(logits, 1)
        loss = -(p_data * _elbo(q, prior, decoder)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    q = torch.softmax(logits, 1).detach()
    rate = (p_data * discrete.kl(q, prior.expand(6, 3), base=math.e)).sum()
    assert float(rate) < 1e-4
    vlb = float((p_data * _elbo(q, prior, decoder)).sum())
    assert vlb == pytest.approx(float((p_data * p_data.log()).sum()), abs=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_vlb_below_model_likelihood_below_data_likelihood(seed):
    """E_pdata[VLB] <= E_pdata[log p_theta(x)] <= E_pdata[log p_data(x)] for any model and any
    encoder (Jensen, then Gibbs); equality on the left for the exact posterior."""
    p_data, prior, decoder = _enumerable_model(seed, decoder_is_data=False)
    log_px = torch.logsumexp(prior.log()[:, None] + decoder.log(), 0)  # [x]
    q = torch.softmax(torch.randn(6, 3, dtype=torch.float64,
                                  generator=torch.Generator().manual_seed(seed + 10)), 1)
    vlb = (p_data * _elbo(q, prior, decoder)).sum()
    model = (p_data * log_px).sum()
    data = (p_data * p_data.log()).sum()
    assert vlb < model < data
    exact_q = (prior[:, None] * decoder / log_px.exp()).T  # p(z|x) [x, z]
    assert float((p_data * _elbo(exact_q, prior, decoder)).sum()) == pytest.approx(
        float(model), abs=1e-12)
