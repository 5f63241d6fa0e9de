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

from vaelab.distributions import Relaxable
from vaelab.errors import ConfigError
from vaelab.estimators.base import ESTIMATORS, Estimator, Terms, log_joint_constant_theta, score
from vaelab.models.base import Model
from vaelab.objectives.base import Objective
from vaelab.registry import option


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
        if model.capabilities.latent != "discrete":
            raise ConfigError(f"the {self.name} estimator relaxes a discrete latent; "
                              f"{type(model).__name__} has a {model.capabilities.latent} "
                              "latent: use reparam")
        if not objective.log_w_only or objective.name not in ("elbo", "iwae"):
            raise ConfigError(f"the {self.name} estimator needs the plain ELBO or L_K")

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
        model_term = f(s.log_likelihood + s.log_prior - s.log_q.detach())
        return Terms(f(s.log_w).detach(), model_term, inference_term, s, self._aux(model, s))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.config.temperature}"


@ESTIMATORS.register("straight_through", RelaxedConfig, help="straight-through Gumbel: the "
                     "exact discrete draw forward, the relaxed gradient backward (biased)")
class StraightThrough(GumbelSoftmax):
    name = "straight_through"
    straight_through = True
