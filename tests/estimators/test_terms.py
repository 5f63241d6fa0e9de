"""Every estimator's explicit terms (as in the DReG reference code) against its one-backward
surrogate, on the same draws: theta must receive exactly the model term's gradient and phi
exactly the inference term's, for one- and two-layer models and a user's model."""

import pytest
import torch

from tests.models.test_protocol import make
from vaelab.estimators import make_estimator
from vaelab.objectives import make_objective

VARIANTS = [("reparam", "none", "elbo"), ("reparam", "none", "iwae"), ("stl", "none", "elbo"),
            ("stl", "none", "iwae"), ("dreg", "none", "iwae"),
            ("score_function", "none", "elbo"), ("score_function", "mean", "iwae"),
            ("score_function", "nvil", "elbo"), ("score_function", "vimco", "iwae"),
            ("rws", "none", "iwae"), ("reparam", "none", "piwae")]
DISCRETE = [("sbn", "score_function", "vimco", "iwae"), ("sbn", "gumbel", "none", "elbo"),
            ("sbn", "straight_through", "none", "iwae"), ("sbn", "rws", "none", "iwae"),
            ("categorical", "rebar", "none", "elbo"), ("categorical", "rebar", "none", "iwae"),
            ("categorical", "gumbel", "none", "iwae")]


def _grads(value, params):
    return [g if g is not None else torch.zeros_like(p) for g, p in
            zip(torch.autograd.grad(value, params, allow_unused=True, retain_graph=True),
                params)]


@pytest.mark.parametrize("case,name,baseline,objective",
                         [(c, *v) for c in ("linear_gaussian", "vae-2layers", "vae-iaf", "user")
                          for v in VARIANTS] + DISCRETE)
def test_surrogate_routes_the_terms_gradients(case, name, baseline, objective):
    m, x = make(case)
    opts = {"baseline": baseline} if name == "score_function" else {}
    est = make_estimator(name, 4, x[0].numel(), **opts).eval()
    obj = make_objective(objective)
    theta, phi = m.generative_parameters(), m.inference_parameters()
    torch.manual_seed(3)
    out = est(m, x, obj)
    torch.manual_seed(3)
    t = est.terms(m, x, obj)
    assert torch.allclose(out.bound, t.bound)
    g_sur = _grads(out.surrogate.mean(), theta + phi)
    g_model, g_inf = _grads(t.model_term.mean(), theta), _grads(t.inference_term.mean(), phi)
    for a, b in zip(g_sur, g_model + g_inf):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    assert any(float(g.abs().max()) > 0 for g in g_inf)  # the check is not vacuous


@pytest.mark.parametrize("baseline", ["none", "vimco"])
def test_score_function_terms_touch_disjoint_parameters(baseline):
    """With detached samples the model term has no phi-gradient and the inference term no
    theta-gradient: that is what lets their sum be the single surrogate."""
    m, x = make("vae")
    est = make_estimator("score_function", 3, x[0].numel(), baseline=baseline)
    t = est.terms(m, x, make_objective("iwae"))
    assert all(float(g.abs().max()) == 0 for g in _grads(t.model_term.mean(),
                                                         m.inference_parameters()))
    assert all(float(g.abs().max()) == 0 for g in _grads(t.inference_term.mean(),
                                                         m.generative_parameters()))


def test_dreg_inference_term_is_the_squared_weight_sum():
    """DReG's phi term, alone: d/dphi sum_k stop(w~_k)^2 log w_k with stopped-q log w, which
    at K = 1 is STL's gradient (w~ = 1)."""
    m, x = make("linear_gaussian")
    phi = m.inference_parameters()
    dreg = make_estimator("dreg", 1)
    stl = make_estimator("stl", 1)
    torch.manual_seed(0)
    a = _grads(dreg.terms(m, x, make_objective("iwae")).inference_term.mean(), phi)
    torch.manual_seed(0)
    b = _grads(stl.terms(m, x, make_objective("elbo")).inference_term.mean(), phi)
    for ga, gb in zip(a, b):
        assert torch.allclose(ga, gb, atol=1e-6)
