"""Relaxation estimators for discrete latents: Gumbel-softmax / Concrete (Jang et al. 2017;
Maddison et al. 2017) and straight-through Gumbel. Both are *biased*; the bias shrinks as the
temperature falls while the variance grows (measured in the tests and the docs).

phi: the objective at a relaxed draw z~ = softmax((logits + g) / tau) (sigmoid for bits), the
gradient going through z~; straight-through evaluates at the exact discrete draw made from the
same noise, z = hard + z~ - stop(z~), and passes the relaxed gradient. Both densities are
evaluated at z~ by the discrete formula (sum z log p), with theta held constant.
theta: the pathwise gradient at the exact discrete draw (unbiased), as for the score function.
The reported bound is the discrete one, at the exact draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.distributions import BernoulliChain, OneHotGroups, Relaxable
from vaelab.errors import ConfigError
from vaelab.estimators.base import (
    ESTIMATORS,
    Estimator,
    Terms,
    learning_signal,
    log_joint_constant_theta,
    score,
)
from vaelab.models.base import AuxiliaryObjective, Model
from vaelab.objectives.base import Objective
from vaelab.registry import option


def check_discrete(name: str, model: Model, objective: Objective) -> None:
    """The relaxation estimators' common requirements: a discrete latent, the plain bounds."""
    if model.capabilities.latent != "discrete":
        raise ConfigError(f"the {name} estimator relaxes a discrete latent; "
                          f"{type(model).__name__} has a {model.capabilities.latent} latent: "
                          "use reparam")
    if objective.learning_signal(torch.zeros(2, 1)) is None:
        raise ConfigError(f"the {name} estimator needs the plain ELBO or L_K, not "
                          f"{objective.label}")


@dataclass(frozen=True)
class RelaxedConfig:
    temperature: float = option(0.5, "temperature tau of the relaxation (lower: less bias, "
                                "more variance)")

    def __post_init__(self) -> None:
        if not 0 < self.temperature < float("inf"):
            raise ConfigError(f"--temperature must be a positive number, got "
                              f"{self.temperature}")


@ESTIMATORS.register("gumbel", RelaxedConfig, help="Gumbel-softmax / Concrete relaxation "
                     "for discrete latents (biased; Jang et al. 2017, Maddison et al. 2017)")
class GumbelSoftmax(Estimator):
    name = "gumbel"
    straight_through = False

    def __init__(self, K: int = 1, config: RelaxedConfig | None = None,
                 x_dim: int | None = None) -> None:
        super().__init__(K, config or RelaxedConfig())

    def check(self, model: Model, objective: Objective) -> None:
        super().check(model, objective)
        check_discrete(self.name, model, objective)

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = model.posterior(x)
        if not isinstance(q, Relaxable):
            raise ConfigError(f"{type(model).__name__}'s posterior ({type(q).__name__}) has no "
                              "relaxation: make it a vaelab.distributions.Relaxable")
        soft, hard = q.relaxed_sample((self.K,), self.config.temperature)
        z = hard + soft - soft.detach() if self.straight_through else soft
        f = objective.bound
        inference_term = f(log_joint_constant_theta(model, x, z) - q.log_prob(z))
        s = score(model, x, hard, q)
        return Terms(f(s.log_w).detach(), f(s.log_w_theta), inference_term, s,
                     self._aux(model, s))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.config.temperature}"


@ESTIMATORS.register("straight_through", RelaxedConfig, help="straight-through Gumbel: the "
                     "exact discrete draw forward, the relaxed gradient backward (biased)")
class StraightThrough(GumbelSoftmax):
    name = "straight_through"
    straight_through = True


@dataclass(frozen=True)
class REBARConfig:
    temperature: float = option(0.5, "temperature tau of the relaxation (lower: less bias, "
                                "more variance)")
    eta: float = option(1.0, "initial scale eta of the relaxed control variate (rebar: then set "
                        "to the variance-minimizing value; relax: learned with the surrogate)")

    def __post_init__(self) -> None:
        RelaxedConfig(self.temperature)
        if not abs(self.eta) < float("inf"):
            raise ConfigError(f"--eta must be a finite number, got {self.eta}")


@ESTIMATORS.register("rebar", REBARConfig, help="REBAR (Tucker et al. 2017): the score function "
                     "with a Gumbel-softmax control variate; unbiased (one Bernoulli layer, or "
                     "categorical latents)")
class REBAR(Estimator):
    """REBAR for one layer of Bernoulli latents or for categorical latents (Tucker et al.
    2017); for bits with logits l::

        z = l + logit(u),  b = H(z),  z~ ~ p(z | b) (u conditioned on b),  s(.) = sigmoid(./tau)
        grad_phi ~= [f(b) - eta f(s(z~))] grad log q(b) + eta grad f(s(z)) - eta grad f(s(z~))

    f = log p(x, .) - log q(.) at bits or relaxed values (theta held constant), for the ELBO per
    draw, for L_K jointly over the K draws (as the score function's signals). The control
    variate's two reparameterized terms have the same expectation as its score term, so the
    estimate stays unbiased for any eta and tau (tested against exact gradients); theta gets
    the pathwise gradient at the exact draws. For categories: Gumbel-max z, b = one_hot(argmax
    z), s = softmax(./tau) (``OneHotGroups.rebar_sample``).

    The estimate is g_sf + eta g_cv, linear in eta, so the variance-minimizing eta is
    -Cov(g_sf, g_cv) / E[g_cv . g_cv]. In training mode each step measures both parts of the
    batch's encoder gradient and keeps moving averages of g_sf . g_cv and g_cv . g_cv (decay
    0.99); the next step uses their ratio (Tucker et al. tune eta by gradient descent on the
    variance instead). eta depends only on earlier draws, so every estimate stays unbiased."""

    name = "rebar"
    eta: torch.Tensor
    cross: torch.Tensor
    square: torch.Tensor

    def __init__(self, K: int = 1, config: REBARConfig | None = None,
                 x_dim: int | None = None) -> None:
        super().__init__(K, config or REBARConfig())
        self.register_buffer("eta", torch.tensor(float(self.config.eta)))
        self.register_buffer("cross", torch.zeros(()))   # moving average of g_sf . g_cv
        self.register_buffer("square", torch.zeros(()))  # moving average of |g_cv|^2

    def check(self, model: Model, objective: Objective) -> None:
        super().check(model, objective)
        check_discrete(self.name, model, objective)
        with torch.no_grad():
            q = model.posterior(torch.zeros(1, *model.x_shape,
                                            device=next(model.parameters()).device))
        self._check_posterior(q)

    @staticmethod
    def _check_posterior(q) -> BernoulliChain | OneHotGroups:
        ok = isinstance(q, OneHotGroups) or (isinstance(q, BernoulliChain) and len(q.sizes) == 1)
        if not ok:
            raise ConfigError("rebar handles one layer of Bernoulli latents or categorical "
                              "latents (--model sbn --bernoulli-layers 1, --model categorical); "
                              "use score_function or gumbel otherwise")
        return q

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = self._check_posterior(model.posterior(x))
        tau, eta = self.config.temperature, self.eta.detach().clone()
        z, b, z_cond = q.rebar_sample((self.K,))
        f_obj = objective.bound

        def relaxed_log_w(soft: torch.Tensor) -> torch.Tensor:
            return log_joint_constant_theta(model, x, soft) - q.log_prob(soft)

        s = score(model, x, b, q)
        log_w = s.log_w
        bound = f_obj(log_w).detach()
        lw_z, lw_cond = relaxed_log_w(q.relax(z, tau)), relaxed_log_w(q.relax(z_cond, tau))
        signal, scale = learning_signal(objective, log_w.detach())
        cond_signal, _ = learning_signal(objective, lw_cond.detach())
        sf_signal, cv_signal = scale * signal, -scale * cond_signal
        cv_path = f_obj(lw_z) - f_obj(lw_cond)
        g_sf = f_obj(s.log_w_phi) + (sf_signal * s.log_q).sum(0)  # the plain score function
        g_cv = (cv_signal * s.log_q).sum(0) + cv_path    # the control variate (mean zero)
        if self.training and torch.is_grad_enabled():
            self._adapt(model, g_sf, g_cv)
        inference_term = g_sf + eta * g_cv
        return Terms(bound, f_obj(s.log_w_theta), inference_term, s, self._aux(model, s))

    def _adapt(self, model: Model, g_sf: torch.Tensor, g_cv: torch.Tensor,
               decay: float = 0.99) -> None:
        phi = model.inference_parameters()
        a = torch.autograd.grad(g_sf.mean(), phi, retain_graph=True, allow_unused=True)
        b = torch.autograd.grad(g_cv.mean(), phi, retain_graph=True, allow_unused=True)
        pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
        cross = sum((x * y).sum() for x, y in pairs)
        square = sum((y * y).sum() for _, y in pairs)
        with torch.no_grad():
            self.cross.mul_(decay).add_((1 - decay) * cross)
            self.square.mul_(decay).add_((1 - decay) * square)
            if self.square > 0:
                self.eta.copy_((-self.cross / self.square).clamp(-10, 10))

    def extra_repr(self) -> str:
        tau = self.config.temperature
        return f"{super().extra_repr()}, temperature={tau}, eta={float(self.eta):.3g}"


@dataclass(frozen=True)
class RELAXConfig(REBARConfig):
    surrogate_hidden: int = option(32, "RELAX: hidden units of the learned surrogate r(z)")
    surrogate_lr: float = option(1e-3, "RELAX: Adam learning rate of the surrogate r and of "
                                 "eta, trained to minimise the variance of the encoder's "
                                 "gradient")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.surrogate_hidden, int) or self.surrogate_hidden < 1:
            raise ConfigError(f"--surrogate-hidden must be an integer >= 1, got "
                              f"{self.surrogate_hidden}")
        if not 0 < self.surrogate_lr < float("inf"):
            raise ConfigError(f"--surrogate-lr must be a positive number, got "
                              f"{self.surrogate_lr}")


@ESTIMATORS.register("relax", RELAXConfig, help="RELAX (Grathwohl et al. 2018): REBAR's "
                     "control variate plus a learned surrogate r(z), trained by its own "
                     "optimiser to minimise the estimator's variance; unbiased")
class RELAX(REBAR):
    """RELAX for one layer of Bernoulli latents or for categorical latents (Grathwohl et al.
    2018, the discrete estimator of their section 3.3). The control variate of REBAR becomes
    c(z) = eta f(s(z)) + r_psi(s(z)), with r_psi a small network::

        grad_phi ~= [f(b) - c(z~)] grad log q(b) + grad c(z) - grad c(z~)

    which is unbiased for every psi and eta (the identity REBAR rests on holds for any
    differentiable c; tested against exact gradients). For K draws r enters as the mean of
    r(s(z_k)), a function of all the draws, so its score term multiplies the joint
    sum_k log q(b_k). eta and psi are an auxiliary objective: their own Adam minimises the
    squared norm of the batch's estimate of grad_phi, a one-sample estimate of its variance plus
    a constant (the gradient w.r.t. eta and psi through the estimate itself, by double
    backpropagation)."""

    name = "relax"
    eta: torch.nn.Parameter
    stackable = False
    side_loss = "relax_surrogate"

    def __init__(self, K: int = 1, config: RELAXConfig | None = None,
                 x_dim: int | None = None) -> None:
        Estimator.__init__(self, K, config or RELAXConfig())
        self.eta = torch.nn.Parameter(torch.tensor(float(self.config.eta)))
        self.surrogate: torch.nn.Module | None = None  # built for the model's latent size

    def check(self, model: Model, objective: Objective) -> None:
        super().check(model, objective)
        with torch.no_grad():
            q = model.posterior(torch.zeros(1, *model.x_shape,
                                            device=next(model.parameters()).device))
        self._build(q)

    def _build(self, q) -> None:
        if self.surrogate is not None:
            return
        d = q.sample((1,)).shape[-1]
        h = self.config.surrogate_hidden
        out = torch.nn.Linear(h, 1)
        torch.nn.init.zeros_(out.weight)  # r = 0 at first: RELAX starts as REBAR
        torch.nn.init.zeros_(out.bias)
        r = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Tanh(), out)
        self.surrogate = r.to(self.eta.device)

    def auxiliary_objectives(self) -> list[AuxiliaryObjective]:
        if self.surrogate is None:
            raise ConfigError("RELAX's surrogate is built by check(model, objective); call it "
                              "before building an optimiser")
        return [AuxiliaryObjective(self.side_loss, (self.eta, *self.surrogate.parameters()),
                                   self.config.surrogate_lr)]

    def _r(self, soft: torch.Tensor) -> torch.Tensor:
        """r(s(z)) averaged over the K draws: ``[K, B, D]`` -> ``[B]``."""
        assert self.surrogate is not None, "built by check()"
        return self.surrogate(soft).squeeze(-1).mean(0)

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = self._check_posterior(model.posterior(x))
        self._build(q)
        tau, f_obj = self.config.temperature, objective.bound
        z, b, z_cond = q.rebar_sample((self.K,))

        def relaxed_log_w(soft: torch.Tensor) -> torch.Tensor:
            return log_joint_constant_theta(model, x, soft) - q.log_prob(soft)

        s = score(model, x, b, q)
        soft_z, soft_cond = q.relax(z, tau), q.relax(z_cond, tau)
        lw_z, lw_cond = relaxed_log_w(soft_z), relaxed_log_w(soft_cond)
        signal, scale = learning_signal(objective, s.log_w.detach())
        cond_signal, _ = learning_signal(objective, lw_cond.detach())
        g_sf = f_obj(s.log_w_phi) + (scale * signal * s.log_q).sum(0)
        g_cv = (-scale * cond_signal * s.log_q).sum(0) + f_obj(lw_z) - f_obj(lw_cond)
        # r's score coefficient keeps psi's graph (the variance depends on it), not phi's
        g_r = (-self._r(soft_cond.detach()) * s.log_q.sum(0) + self._r(soft_z)
               - self._r(soft_cond))
        inference_term = g_sf + self.eta * g_cv + g_r
        side: dict[str, torch.Tensor] = {}
        if self.training and torch.is_grad_enabled():
            grads = torch.autograd.grad(inference_term.mean(), model.inference_parameters(),
                                        create_graph=True, allow_unused=True)
            side[self.side_loss] = torch.stack([(g ** 2).sum() for g in grads
                                                if g is not None]).sum()
        return Terms(f_obj(s.log_w).detach(), f_obj(s.log_w_theta), inference_term, s,
                     self._aux(model, s), side)

    def extra_repr(self) -> str:
        return (f"K={self.K}, temperature={self.config.temperature}, "
                f"eta={float(self.eta.detach()):.3g}")
