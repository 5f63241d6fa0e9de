"""Discrete latents: the models score their whole (enumerable) support correctly, exact sums
agree with importance sampling, every unbiased estimator's mean matches the exact gradient, and
the relaxations' bias and variance move with the temperature as they should.

Gradients are checked by z-tests: R = 40 independent estimates, each the mean over r = 100
replicas of the same 4 examples (so the mean of the R estimates has standard error
sd / sqrt(R)). The gradient has up to ~10^5 coordinates, so the test is on 32 fixed random
projections of it (seed 0): each must lie within 5 standard errors of the exact gradient's
projection (t with R - 1 degrees of freedom: about 1e-5 per projection)."""

import math

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.eval.exact import exact_elbo, exact_iwae, exact_log_marginal
from vaelab.models import build_model
from vaelab.objectives import iwae_bound, make_objective

MODELS = {"sbn": ("sbn", {"units": 2, "bernoulli_layers": 2, "sbn_hidden": 4}),
          "sbn-linear": ("sbn", {"units": 3, "bernoulli_layers": 1}),
          "categorical": ("categorical", {"variables": 2, "categories": 3})}
R, REPLICAS, K = 40, 100, 3


def make(name: str, seed: int = 0):
    kind, opts = MODELS[name]
    torch.manual_seed(seed)
    m = build_model(kind, opts, (1, 2, 3), "bernoulli")
    x = torch.bernoulli(torch.full((4, 1, 2, 3), 0.4), generator=torch.Generator().manual_seed(1))
    return m, x


def flat_grad(m, loss) -> torch.Tensor:
    grads = torch.autograd.grad(loss, list(m.parameters()), allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                      for g, p in zip(grads, m.parameters())])


def z_scores(g: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """|mean - exact| / standard error along 32 random directions; g ``[R, P]``."""
    P = torch.randn(g.shape[1], 32, generator=torch.Generator().manual_seed(0))
    gp, ep = g @ P, exact @ P
    return ((gp.mean(0) - ep) / (gp.std(0) / math.sqrt(len(g)))).abs()


def exact_gradient(m, x, objective: str, k: int) -> torch.Tensor:
    value = exact_elbo(m, x) if objective == "elbo" else exact_iwae(m, x, k)
    return flat_grad(m, value.mean())


def estimates(m, x, estimator, objective: str, repeats: int = R) -> torch.Tensor:
    obj = make_objective(objective)
    xr = x.repeat(REPLICAS, 1, 1, 1)
    return torch.stack([flat_grad(m, estimator(m, xr, obj).surrogate.mean())
                        for _ in range(repeats)])


@pytest.mark.parametrize("model", list(MODELS))
def test_the_support_is_enumerated_and_normalized(model):
    m, x = make(model)
    Z = m.prior.enumerate_support()
    assert len(Z) == m.latent_support_size() and len(torch.unique(Z, dim=0)) == len(Z)
    with torch.no_grad():
        assert torch.allclose(m.prior.log_prob(Z).exp().sum(), torch.tensor(1.0), atol=1e-5)
        q = m.posterior(x).log_prob(Z[:, None].expand(-1, len(x), -1)).exp().sum(0)
        assert torch.allclose(q, torch.ones(len(x)), atol=1e-5)
        draws = m.posterior(x).sample((20,))
        assert ((draws == 0) | (draws == 1)).all()


@pytest.mark.parametrize("model", list(MODELS))
def test_enumerated_log_marginal_equals_importance_sampling(model):
    """IS with K = 40000 draws from q agrees with the exact sum within 5 Monte Carlo standard
    errors (delta method) + 0.005 nats."""
    m, x = make(model)
    torch.manual_seed(2)
    with torch.no_grad():
        exact = exact_log_marginal(m, x)
        lw = m.log_weights(x, 40_000).double()
        est = iwae_bound(lw)
        ess = torch.exp(2 * torch.logsumexp(lw, 0) - torch.logsumexp(2 * lw, 0))
        se = (1 / ess).sqrt()
    assert ((est - exact).abs() < 5 * se + 0.005).all(), (est, exact)
    assert (exact_elbo(m, x) <= exact + 1e-5).all()
    assert (exact_elbo(m, x) <= exact_iwae(m, x, 2) + 1e-5).all()


UNBIASED = [("score_function", {"baseline": "none"}), ("score_function", {"baseline": "mean"}),
            ("score_function", {"baseline": "nvil"}), ("score_function", {"baseline": "vimco"})]


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
@pytest.mark.parametrize("est,opts", UNBIASED, ids=[o["baseline"] for _, o in UNBIASED])
@pytest.mark.parametrize("model", ["sbn", "categorical"])
def test_unbiased_estimators_match_the_exact_gradient(model, est, opts, objective):
    m, x = make(model)
    torch.manual_seed(3)
    exact = exact_gradient(m, x, objective, K)
    e = make_estimator(est, K, 6, **opts)
    g = estimates(m, x, e, objective)
    z = z_scores(g, exact)
    assert z.max() < 5, (float(z.max()), est, opts)


@pytest.mark.parametrize("model", ["sbn-linear", "categorical"])
@pytest.mark.parametrize("objective,k", [("elbo", 1), ("iwae", 3)])
def test_rebar_is_unbiased_and_cuts_the_score_function_variance(model, objective, k):
    """REBAR (tau = 0.5, eta adapted from 1) on a one-layer SBN and a categorical model: z-test
    against the exact gradient, and an encoder variance below a fifth of the plain score
    function's (measured: 50-500x lower)."""
    m, x = make(model)
    exact = exact_gradient(m, x, objective, k)
    phi = phi_mask(m)
    torch.manual_seed(7)
    g = estimates(m, x, make_estimator("rebar", k, 6), objective)
    assert z_scores(g, exact).max() < 5
    torch.manual_seed(7)
    plain = estimates(m, x, make_estimator("score_function", k, 6), objective)
    assert g[:, phi].var(0).sum() < 0.2 * plain[:, phi].var(0).sum()


def test_rebar_says_where_it_does_not_apply():
    m, _ = make("sbn")  # two Bernoulli layers
    with pytest.raises(ConfigError, match="one layer of Bernoulli"):
        make_estimator("rebar", 1).check(m, make_objective("elbo"))


def phi_mask(m) -> torch.Tensor:
    """Which coordinates of the flat gradient belong to the inference parameters."""
    phi = {id(p) for p in m.inference_parameters()}
    return torch.cat([torch.full((p.numel(),), id(p) in phi) for p in m.parameters()])


def test_control_variates_reduce_the_variance_of_the_score_function():
    """The encoder gradient's total variance with a running-mean baseline and with the
    leave-one-out baseline (RLOO for the ELBO) is below that of the plain score function."""
    m, x = make("categorical")
    phi = phi_mask(m)
    var = {}
    for b in ("none", "mean", "vimco"):
        torch.manual_seed(4)
        g = estimates(m, x, make_estimator("score_function", K, 6, baseline=b), "elbo")
        var[b] = float(g[:, phi].var(0).sum())
    assert var["mean"] < var["none"] and var["vimco"] < var["none"], var


def test_gumbel_softmax_bias_shrinks_and_variance_grows_as_the_temperature_falls():
    """Encoder gradient of the ELBO, categorical model: the norm of (mean estimate - exact)
    falls from tau = 2 to tau = 0.1, and the total variance rises. The decoder's gradient,
    taken at exact discrete draws, is unbiased at every temperature (z-test)."""
    m, x = make("categorical")
    phi = phi_mask(m)
    exact = exact_gradient(m, x, "elbo", 1)
    bias, var = {}, {}
    for tau in (2.0, 0.1):
        torch.manual_seed(5)
        g = estimates(m, x, make_estimator("gumbel", 1, temperature=tau), "elbo", repeats=60)
        if tau == 2.0:
            g2 = g
        bias[tau] = float((g[:, phi].mean(0) - exact[phi]).norm())
        var[tau] = float(g[:, phi].var(0).sum())
        theta = ~phi
        assert z_scores(g[:, theta], exact[theta]).max() < 5
    assert bias[0.1] < bias[2.0] and var[0.1] > var[2.0], (bias, var)
    assert z_scores(g2[:, phi], exact[phi]).max() > 5  # the z-test detects the bias at tau = 2


def test_straight_through_runs_and_reports_the_discrete_bound():
    m, x = make("sbn")
    torch.manual_seed(6)
    out = make_estimator("straight_through", 2000, temperature=0.5)(m, x, make_objective("elbo"))
    out.loss.backward()
    assert torch.allclose(out.bound, exact_elbo(m, x).detach(), atol=0.1)


def test_pathwise_estimators_refuse_discrete_latents():
    m, _ = make("sbn")
    for name in ("reparam", "stl", "dreg"):
        with pytest.raises(ConfigError, match="discrete latent"):
            make_estimator(name, 2).check(m, make_objective("iwae"))
    with pytest.raises(ConfigError, match="relaxes a discrete latent"):
        vae = build_model("vae", {"hidden": 8, "latent": 2}, (1, 2, 3), "bernoulli")
        make_estimator("gumbel", 1).check(vae, make_objective("elbo"))


@pytest.mark.parametrize("model", ["sbn-linear", "categorical"])
@pytest.mark.parametrize("objective,k", [("elbo", 1), ("iwae", 3)])
def test_relax_is_unbiased_for_any_surrogate(model, objective, k):
    """RELAX with a surrogate r that is far from zero and an eta other than REBAR's: the mean
    of its estimates is the exact gradient (z-test), so the learned part adds no bias."""
    m, x = make(model)
    exact = exact_gradient(m, x, objective, k)
    est = make_estimator("relax", k, 6, eta=0.6)
    est.check(m, make_objective(objective))
    torch.manual_seed(11)
    for p in est.surrogate.parameters():
        torch.nn.init.normal_(p, std=1.0)
    assert est.surrogate(torch.rand(5, est.surrogate[0].in_features)).std() > 0.1
    torch.manual_seed(7)
    g = estimates(m, x, est.eval(), objective)  # eval: no variance loss, the same estimate
    assert z_scores(g, exact).max() < 5


@pytest.mark.parametrize("model", ["sbn-linear", "categorical"])
def test_relax_learns_a_surrogate_that_cuts_the_variance(model):
    """eta and r trained by their own Adam on the variance loss (the model held fixed): the
    encoder gradient's variance falls below that of the start (r = 0, eta = 1: REBAR with a
    fixed eta), and the gradient stays unbiased."""
    m, x = make(model)
    obj = make_objective("elbo")
    est = make_estimator("relax", 1, 6, surrogate_lr=0.01)
    est.check(m, obj)
    phi = phi_mask(m)

    def variance() -> float:
        torch.manual_seed(5)
        return float(estimates(m, x, est.eval(), "elbo", repeats=30)[:, phi].var(0).sum())

    before = variance()
    (aux,) = est.auxiliary_objectives()
    opt = torch.optim.Adam(aux.parameters, lr=aux.lr)
    est.train()
    torch.manual_seed(6)
    for _ in range(300):
        side = est(m, x.repeat(25, 1, 1, 1), obj).side_losses[aux.name]
        opt.zero_grad()
        grads = torch.autograd.grad(side, aux.parameters, allow_unused=True)
        for p, gr in zip(aux.parameters, grads):
            p.grad = gr
        opt.step()
    after = variance()
    assert after < 0.8 * before, (before, after, float(est.eta))
    g = estimates(m, x, est.eval(), "elbo")
    assert z_scores(g, exact_gradient(m, x, "elbo", 1)).max() < 5
