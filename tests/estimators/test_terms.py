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


def test_estimators_ask_the_objective_not_its_name():
    """The score function, REBAR, DReG and RWS read what they need from the objective
    (learning_signal, leave_one_out, importance_weighted): no estimator branches on a name,
    and the model term is written once (Samples.log_w_theta)."""
    import re
    from pathlib import Path

    import vaelab.estimators as est

    for f in Path(est.__file__).parent.glob("*.py"):
        text = f.read_text()
        assert not re.search(r"objective\.name\s*(==|!=|not in|in)\b", text), f.name
        assert "s.log_likelihood + s.log_prior - s.log_q.detach()" not in text, f.name


def test_a_new_objective_with_a_learning_signal_trains_with_the_score_function():
    """An objective the estimators have never heard of: twice the ELBO. The score-function
    estimator's expected encoder gradient is twice the ELBO's exact gradient (enumeration)."""
    import torch

    from vaelab.estimators import make_estimator
    from vaelab.eval.exact import exact_elbo
    from vaelab.models import build_model
    from vaelab.objectives.base import Objective

    class TwiceELBO(Objective):
        name = "twice"

        def __call__(self, s):
            return 2 * s.log_w.mean(0)

        def bound(self, log_w):
            return 2 * log_w.mean(0)

        def learning_signal(self, log_w):
            return log_w, 2.0 / log_w.shape[0]

    torch.manual_seed(0)
    m = build_model("categorical", {"variables": 1, "categories": 3}, (1, 2, 2), "bernoulli")
    x = torch.bernoulli(torch.full((3, 1, 2, 2), 0.4))
    phi = list(m.encoder.parameters())
    exact = torch.cat([g.flatten() for g in torch.autograd.grad(2 * exact_elbo(m, x).mean(),
                                                                  phi)])
    est = make_estimator("score_function", 4, 4, baseline="none")
    est.check(m, TwiceELBO())  # accepted: it has a learning signal
    grads = []
    for _ in range(3000):
        out = est(m, x, TwiceELBO())
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(out.surrogate.mean(),
                                                                           phi)]))
    g = torch.stack(grads)
    se = g.std(0) / len(g) ** 0.5
    assert ((g.mean(0) - exact).abs() < 4 * se + 1e-6).all()
