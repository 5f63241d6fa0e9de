"""Importance sampling as a tool: estimates of E_p[f] against closed forms, their error bars
against the spread of repeated estimates, and log p(x) of the linear-Gaussian model with the
prior versus the encoder as proposal."""

import math

import pytest
import torch
from torch.distributions import Normal

from tests.helpers import linear_gaussian, sample_data
from vaelab.errors import ConfigError
from vaelab.eval.importance import importance_sampling, log_evidence, model_log_evidence

P, Q = Normal(0.0, 1.0), Normal(0.5, 2.0)  # E_p[z^2] = 1; q wider than p: bounded weights


@pytest.mark.parametrize("self_normalized", [False, True])
def test_estimates_are_right_and_their_error_bars_honest(self_normalized):
    """200 independent estimates from n = 2000 draws: their mean is within 4 standard errors
    of the mean of 1, and the reported standard error matches their spread within 15%."""
    torch.manual_seed(0)
    est = [importance_sampling(lambda z: z ** 2, P.log_prob, Q, 2000, self_normalized)
           for _ in range(200)]
    values = torch.stack([e.estimate for e in est])
    spread = float(values.std())
    reported = float(torch.stack([e.stderr for e in est]).mean())
    assert abs(float(values.mean()) - 1) < 4 * spread / math.sqrt(200)
    assert abs(reported / spread - 1) < 0.15, (reported, spread)


def test_ess_is_n_for_the_target_itself_and_small_for_a_poor_proposal():
    torch.manual_seed(0)
    same = importance_sampling(lambda z: z, P.log_prob, P, 1000)
    assert same.ess == pytest.approx(1000)
    poor = importance_sampling(lambda z: z, P.log_prob, Normal(4.0, 0.5), 1000)
    assert poor.ess < 20


def test_self_normalized_needs_only_an_unnormalized_target():
    torch.manual_seed(0)
    r = importance_sampling(lambda z: z, lambda z: P.log_prob(z) + 123.0, Q, 20000, True)
    assert abs(float(r.estimate)) < 4 * float(r.stderr)


def test_vector_valued_f():
    torch.manual_seed(0)
    r = importance_sampling(lambda z: torch.stack([z, z ** 2], -1), P.log_prob, Q, 20000)
    assert r.estimate.shape == (2,) and abs(float(r.estimate[1]) - 1) < 4 * float(r.stderr[1])


def test_log_evidence_of_an_unnormalized_gaussian():
    """p~(z) = 7 N(z; 0, 1): log Z = log 7, streamed in chunks."""
    torch.manual_seed(0)
    r = log_evidence(lambda z: P.log_prob(z) + math.log(7), Q, 100_000, chunk=3000)
    assert abs(float(r["log_z"]) - math.log(7)) < 4 * float(r["mc_stderr"])


def test_prior_versus_encoder_as_proposal_for_log_p_x():
    """Both converge to the exact log p(x); the prior needs far more draws (smaller ESS at the
    same n), as the lecture says."""
    m = linear_gaussian(D=8, d=3, seed=0, q_noise=0.01)
    x = sample_data(m, 10)
    exact = m.exact_log_marginal(x).detach().double()
    torch.manual_seed(0)
    prior = model_log_evidence(m, x, "prior", 200_000)
    enc = model_log_evidence(m, x, "posterior", 2000)
    for r in (prior, enc):
        assert (r["log_z"] - exact).abs().max() < 5 * r["mc_stderr"].max() + 0.01
    assert float(prior["ess"].mean()) / 200_000 < float(enc["ess"].mean()) / 2000 / 10


def test_bad_arguments():
    with pytest.raises(ConfigError):
        importance_sampling(lambda z: z, P.log_prob, Q, 1)
    with pytest.raises(ConfigError):
        log_evidence(P.log_prob, Q, 0)
    m = linear_gaussian()
    with pytest.raises(ConfigError, match="prior or posterior"):
        model_log_evidence(m, torch.zeros(2, 6), "uniform")
