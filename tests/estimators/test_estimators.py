"""Gradient estimators against exact gradients on a linear-Gaussian model.

The closed-form ELBO of ``LinearGaussianVAE`` is differentiable, so autograd gives the exact
ELBO gradient for encoder (phi) and decoder (theta). Unbiasedness: each coordinate's mean over N
estimates is compared with the exact value in units of its standard error; we require every
|z| < 4.5 (24-33 coordinates) and mean z^2 < 2.5 (about 1 when unbiased). Seeds fixed (conftest).
"""

import pytest
import torch

from tests.helpers import linear_gaussian, sample_data
from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.estimators.diagnostics import (
    fit_baseline,
    gradient_samples,
    gradient_statistics,
    parameter_groups,
    summarize,
)
from vaelab.objectives import make_objective


def est(name, objective, K, baseline="none"):
    """An estimator with its objective, as the tests call them."""
    opts = {"baseline": baseline} if name == "score_function" else {}
    return make_estimator(name, K, x_dim=6, **opts), make_objective(objective)


def _grads(m, eo, x, n):
    params = [p for g in parameter_groups(m).values() for p in g]
    s1, s2 = gradient_samples(m, *eo, x, n, params)
    mean = s1 / n
    se = ((s2 / n - mean ** 2).clamp_min(0) / (n - 1)).sqrt()
    return mean, se


def _exact(m, x):
    params = [p for g in parameter_groups(m).values() for p in g]
    return torch.cat([g.flatten() for g in torch.autograd.grad(
        m.closed_form_elbo(x).mean(), params)]).double()


def _z_scores(mean, se, exact):
    ok = se > 1e-9
    assert torch.allclose(mean[~ok], exact[~ok], atol=1e-6)  # zero-variance coordinates: exact
    return (mean[ok] - exact[ok]) / se[ok]


@pytest.mark.parametrize("name,baseline,K,n", [
    ("reparam", "none", 1, 1500), ("reparam", "none", 4, 1500), ("stl", "none", 1, 1500),
    ("stl", "none", 3, 1500), ("score_function", "none", 1, 4000),
    ("score_function", "mean", 1, 4000), ("score_function", "nvil", 1, 4000),
    # heavier-tailed coefficients: more repeats for a trustworthy standard error
    ("score_function", "vimco", 4, 12000),
])
def test_elbo_estimators_are_unbiased(name, baseline, K, n):
    m = linear_gaussian()
    x = sample_data(m, 2)
    eo = est(name, "elbo", K, baseline)
    fit_baseline(*eo[:1], m, eo[1], x, steps=100)
    z = _z_scores(*_grads(m, eo, x, n), _exact(m, x))
    assert z.abs().max() < 4.5 and (z ** 2).mean() < 2.5, z


@pytest.mark.parametrize("name,baseline", [("dreg", "none"), ("score_function", "vimco"),
                                           ("score_function", "none")])
def test_iwae_estimators_match_the_reparameterized_iwae_gradient(name, baseline):
    m = linear_gaussian()
    x = sample_data(m, 2)
    K = 5
    ref_mean, ref_se = _grads(m, est("reparam", "iwae", K), x, 3000)
    n = 6000 if name == "score_function" else 3000
    mean, se = _grads(m, est(name, "iwae", K, baseline), x, n)
    z = (mean - ref_mean) / (se ** 2 + ref_se ** 2).sqrt().clamp_min(1e-12)
    assert z.abs().max() < 4.5 and (z ** 2).mean() < 2.5, z


def test_a_biased_estimator_would_fail_the_check():
    """The unbiasedness check has power: STL is biased for the IWAE bound (Tucker et al. 2019)."""
    m = linear_gaussian(q_noise=0.3)
    x = sample_data(m, 2)
    ref_mean, ref_se = _grads(m, est("reparam", "iwae", 5), x, 3000)
    mean, se = _grads(m, est("stl", "iwae", 5), x, 3000)
    z = (mean - ref_mean) / (se ** 2 + ref_se ** 2).sqrt().clamp_min(1e-12)
    assert z.abs().max() > 6


def test_score_has_zero_mean():
    """E_q[grad_phi log q_phi(z)] = 0 (the lecture's identity), within 4 s.e. per parameter."""
    m = linear_gaussian()
    x = sample_data(m, 3)
    enc = list(m.encoder.parameters())
    gs = []
    for _ in range(3000):
        q = m.posterior(x)
        z = q.sample()
        gs.append(torch.cat([g.flatten() for g in torch.autograd.grad(q.log_prob(z).sum(), enc)]))
    g = torch.stack(gs).double()
    z = g.mean(0) / (g.std(0) / len(g) ** 0.5)
    assert z.abs().max() < 4.5
    assert g.abs().mean() > 0.1  # each single score is far from zero


def test_score_function_variance_exceeds_reparam_and_baselines_reduce_it():
    m = linear_gaussian()
    x = sample_data(m, 4)
    enc = {"encoder": list(m.encoder.parameters())}

    def var(name, baseline="none", K=4, objective="elbo"):
        e, o = est(name, objective, K, baseline)
        fit_baseline(e, m, o, x, steps=200)
        return gradient_statistics(m, e, o, x, 600, enc)["encoder"].total_variance

    v_rep, v_sf = var("reparam"), var("score_function")
    assert v_sf > 10 * v_rep
    for b in ("mean", "nvil", "vimco"):
        assert var("score_function", b) < 0.7 * v_sf, b
    assert var("score_function", "vimco", objective="iwae") < 0.7 * var(
        "score_function", objective="iwae")


def test_stl_has_zero_encoder_variance_at_the_exact_posterior():
    m = linear_gaussian(exact_q=True)
    x = sample_data(m, 3)
    enc = {"encoder": list(m.encoder.parameters())}
    stl = gradient_statistics(m, *est("stl", "elbo", 1), x, 50, enc)["encoder"]
    rep = gradient_statistics(m, *est("reparam", "elbo", 1), x, 50, enc)["encoder"]
    assert stl.total_variance < 1e-6 * rep.total_variance and rep.total_variance > 1e-2
    dreg = gradient_statistics(m, *est("dreg", "iwae", 8), x, 50, enc)["encoder"]
    assert dreg.total_variance < 1e-6 * rep.total_variance


def test_rainforth_snr_trends():
    """Reparameterized IWAE: encoder SNR falls with K (~1/sqrt(K)), decoder SNR rises (~sqrt(K));
    DReG's encoder SNR rises. These are large-K statements that need the moments of the weights:
    q is made wider than the posterior so that w is bounded (benchmarks/snr_linear_gaussian.py)."""
    m = linear_gaussian()
    m.set_q_overdispersed(widen=1.2, shift=0.3)
    x = sample_data(m, 1)
    snr = {}
    for name in ("reparam", "dreg"):
        for K in (1, 1000):
            st = gradient_statistics(m, *est(name, "iwae", K), x, 200)
            snr[name, K] = (st["encoder"].snr, st["decoder"].snr)
    assert snr["reparam", 1000][0] < 0.4 * snr["reparam", 1][0]
    assert snr["reparam", 1000][1] > 8 * snr["reparam", 1][1]
    assert snr["dreg", 1000][0] > 1.5 * snr["dreg", 1][0]
    assert snr["dreg", 1000][0] > 5 * snr["reparam", 1000][0]


def test_overdispersed_q_bounds_the_weights():
    m = linear_gaussian()
    m.set_q_overdispersed(widen=1.2, shift=0.3)
    x = sample_data(m, 4)
    post, q = m.exact_posterior(x), m.encoder(x)
    S, Q = post.covariance_matrix[0], torch.diag(q.scale[0] ** 2)
    assert torch.all(torch.linalg.eigvalsh(Q - S) > 0)  # q wider than p(z|x)
    log_ratio = m.log_weights(x, 20000) - m.exact_log_marginal(x)  # log p(z|x)/q(z|x)
    # its maximum: 1/2 log(det Q / det S) + 1/2 d^T (Q - S)^-1 d, d the difference of the means
    d = q.loc - post.loc
    bound = 0.5 * (torch.logdet(Q) - torch.logdet(S)) + 0.5 * (
        d @ torch.linalg.inv(Q - S) * d).sum(-1)
    assert torch.all(log_ratio.max(0).values <= bound + 1e-4)
    assert torch.all(log_ratio.max(0).values > bound - 1.0)  # and the samples come near it


def test_summary_statistics():
    g = torch.tensor([[1.0, 0.0], [3.0, 0.0]], dtype=torch.float64)
    st = summarize(g.sum(0), (g ** 2).sum(0), 2)
    assert st.mean_norm == pytest.approx(2.0) and st.total_variance == pytest.approx(2.0)
    assert st.snr == pytest.approx(2 / 2 ** 0.5)


def test_invalid_combinations():
    m = linear_gaussian()
    with pytest.raises(ConfigError, match="iwae"):
        make_estimator("dreg", 5).check(m, make_objective("elbo"))
    with pytest.raises(ConfigError, match="vimco.*2 or more"):
        make_estimator("score_function", 1, baseline="vimco")
    with pytest.raises(ConfigError, match="no option baseline"):
        make_estimator("reparam", 5, baseline="mean")
    with pytest.raises(ConfigError, match="unknown estimator"):
        make_estimator("magic", 5)
    with pytest.raises(ConfigError, match="beta"):  # KL reweighting needs pathwise gradients
        make_estimator("score_function", 5).check(m, make_objective("elbo", beta=4.0))
