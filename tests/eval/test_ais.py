"""HMC, AIS and BDMC against closed forms: a Gaussian target with known moments, and the
linear-Gaussian model, whose log p(x) and posterior are exact."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from tests.helpers import linear_gaussian, sample_data
from vaelab.errors import ConfigError
from vaelab.eval.ais import AISConfig, anneal, mc_stderr, schedule
from vaelab.eval.bdmc import bdmc, simulate
from vaelab.eval.hmc import evaluate, hmc_step


def test_hmc_leaves_a_correlated_gaussian_invariant():
    """Start 4000 chains (x 2 targets) at exact draws, run 20 transitions: the moments stay
    those of the target (z-tests on the means, 5 standard errors, and a covariance tolerance of
    about 6 standard errors) and the acceptance rate is sane."""
    torch.manual_seed(0)
    mean = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    cov = torch.tensor([[[1.0, 0.8], [0.8, 1.0]], [[0.3, -0.1], [-0.1, 2.0]]])
    target = MultivariateNormal(mean, cov)  # batch [B=2], event [2]

    def parts(z):
        return target.log_prob(z)[..., None]

    C = 4000
    point = evaluate(parts, target.sample((C,)))
    w = torch.ones(1)
    step = torch.full((2,), 0.3)
    acc = []
    for _ in range(20):
        point, a = hmc_step(parts, point, w, step, 5)
        acc.append(a.mean())
    z = point.z
    se = cov.diagonal(dim1=-2, dim2=-1).sqrt() / math.sqrt(C)
    assert ((z.mean(0) - mean).abs() < 5 * se).all()
    emp = torch.einsum("cbi,cbj->bij", z - z.mean(0), z - z.mean(0)) / (C - 1)
    assert torch.allclose(emp, cov, atol=0.12)
    assert 0.5 < float(torch.stack(acc).mean()) <= 1.0


def test_hmc_moves_a_chain_that_starts_far_away():
    torch.manual_seed(0)
    target = MultivariateNormal(torch.zeros(3), torch.eye(3))
    point = evaluate(lambda z: target.log_prob(z)[..., None], torch.full((500, 1, 3), 6.0))
    for _ in range(50):
        point, _ = hmc_step(lambda z: target.log_prob(z)[..., None], point, torch.ones(1),
                            torch.full((1,), 0.4), 5)
    assert point.z.mean().abs() < 0.2 and abs(float(point.z.std()) - 1) < 0.1


def test_hmc_rejects_proposals_with_non_finite_density():
    """A target that is -inf outside the unit ball: no chain ever leaves it."""
    def parts(z):
        lp = -0.5 * z.pow(2).sum(-1)
        return torch.where(z.norm(dim=-1) < 1, lp, torch.full_like(lp, -math.inf))[..., None]

    point = evaluate(parts, torch.zeros(200, 1, 2))
    for _ in range(10):
        point, a = hmc_step(parts, point, torch.ones(1), torch.full((1,), 0.5), 4)
    assert (point.z.norm(dim=-1) < 1).all() and torch.isfinite(point.parts).all()


def test_schedules_run_from_zero_to_one_and_increase():
    for kind in ("sigmoid", "linear"):
        b = schedule(50, kind)
        assert b[0] == 0 and b[-1] == 1 and (b.diff() > 0).all() and len(b) == 51
    with pytest.raises(ConfigError):
        schedule(10, "cosine")


def test_mc_stderr_is_zero_for_equal_weights_and_grows_with_spread():
    assert torch.allclose(mc_stderr(torch.zeros(16, 3, dtype=torch.float64)),
                          torch.zeros(3, dtype=torch.float64))
    lw = torch.randn(16, 3, dtype=torch.float64)
    assert (mc_stderr(3 * lw) > mc_stderr(lw)).all()


@pytest.fixture(scope="module")
def lg():
    m = linear_gaussian(D=8, d=3, seed=0, q_noise=0.02)
    x = sample_data(m, 30)
    return m, x, m.exact_log_marginal(x).detach().double()


@pytest.mark.parametrize("init", ["prior", "posterior"])
def test_ais_converges_to_the_exact_log_marginal(lg, init):
    """With more steps the estimate approaches log p(x): at T = 400 the mean error over 30
    examples lies within 4 Monte Carlo standard errors (+ 0.01 nats) of 0, and is smaller than
    at T = 2 (from the prior, where the start is far from the posterior)."""
    m, x, exact = lg
    torch.manual_seed(1)
    coarse = anneal(m, x, AISConfig(steps=2, chains=16, init=init))
    fine = anneal(m, x, AISConfig(steps=400, chains=16, init=init))
    err = float((fine.log_px - exact).mean())
    mc = float(fine.stderr.pow(2).sum().sqrt() / len(x))
    assert abs(err) < 4 * mc + 0.01, (err, mc)
    if init == "prior":
        assert abs(float((coarse.log_px - exact).mean())) > abs(err)
    assert fine.log_weights.shape == (16, 30)
    assert 0.3 < float(fine.acceptance.mean()) < 0.95


def test_ais_is_a_stochastic_lower_bound(lg):
    """E[log p̂] <= log p(x): with few steps and one chain the estimate is clearly below."""
    m, x, exact = lg
    torch.manual_seed(2)
    r = anneal(m, x, AISConfig(steps=3, chains=1))
    assert float((r.log_px - exact).mean()) < 0


def test_bdmc_brackets_the_truth_and_closes_with_steps(lg):
    """On data simulated from the model: forward AIS below log p(x), reverse AIS above it (on
    average over examples, within Monte Carlo error), and the gap shrinks with steps."""
    m, _, _ = lg
    torch.manual_seed(3)
    x, z = simulate(m, 40)
    exact = m.exact_log_marginal(x).detach().double()
    gaps = []
    for steps in (5, 50, 300):
        cfg = AISConfig(steps=steps, chains=4)
        lo = anneal(m, x, cfg)
        up = anneal(m, x, cfg, z0=z)
        lo_err = float(lo.stderr.pow(2).sum().sqrt() / len(x))
        up_err = float(up.stderr.pow(2).sum().sqrt() / len(x))
        assert float((lo.log_px - exact).mean()) < 3 * lo_err + 0.01
        assert float((up.log_px - exact).mean()) > -3 * up_err - 0.01
        gaps.append(float((up.log_px - lo.log_px).mean()))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.1, gaps


def test_bdmc_table_and_is_comparison(lg):
    m, _, _ = lg
    torch.manual_seed(4)
    out = bdmc(m, n=20, steps=[3, 100], config=AISConfig(chains=4), is_k=500)
    rows = out["rows"]
    assert [r["steps"] for r in rows] == [3, 100]
    assert rows[0]["gap"]["mean"] > rows[1]["gap"]["mean"]
    for r in rows:
        assert r["upper"]["mean"] - r["lower"]["mean"] == pytest.approx(r["gap"]["mean"])
    assert out["is"]["k"] == 500 and out["is"]["below_upper"] > out["is"]["below_lower"]


def test_ais_needs_a_continuous_latent_and_bdmc_a_simulator():
    from vaelab.models import build_model

    vq = build_model("vqvae", {"num_codes": 4, "code_dim": 2, "channels": 4}, (1, 8, 8),
                     "bernoulli")
    with pytest.raises(ConfigError, match="continuous latent"):
        anneal(vq, torch.zeros(2, 1, 8, 8), AISConfig(steps=2))
    from tests.fixtures.user_model import TinyConvVAE

    with pytest.raises(ConfigError, match="sample_data"):
        simulate(TinyConvVAE(), 2)


def test_bdmc_reports_no_monte_carlo_error_for_chains_that_share_their_start(lg):
    """Every reverse chain of an example starts at its one exact posterior sample, so their
    spread is no Monte Carlo error: the table gives the upper bound's and the gap's error over
    (independent) examples only, and the forward bound's across chains as before."""
    m, _, _ = lg
    torch.manual_seed(5)
    out = bdmc(m, n=12, steps=[5], config=AISConfig(chains=4), is_k=0)
    (row,) = out["rows"]
    assert math.isnan(row["upper"]["mc_stderr"]) and math.isnan(row["gap"]["mc_stderr"])
    assert row["upper"]["stderr"] > 0 and row["lower"]["mc_stderr"] > 0
