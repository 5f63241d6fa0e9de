"""The likelihood-ratio (score-function, REINFORCE) estimator, with baselines.

grad_phi E_q[f(z)] = E_q[f(z) grad_phi log q_phi(z)]   (the lecture's "Likelihood Ratio Gradient")

ELBO:  grad_phi ~= (1/K) sum_k (log w_k - b_k) grad_phi log q(z_k|x)
IWAE:  grad_phi ~= sum_k (L^ - b_k - w~_k) grad_phi log q(z_k|x)   (Mnih & Rezende 2016)

The samples are detached, so theta keeps its pathwise gradient and the two terms touch disjoint
parameters: model term f(log p(x, z) - stop(log q)), inference term f(stop(log p) - log q) +
sum_k stop(coef_k) log q(z_k|x).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.errors import ConfigError
from vaelab.estimators.base import ESTIMATORS, Estimator, Terms, learning_signal, score
from vaelab.estimators.baselines import BASELINES, NVIL, Baseline
from vaelab.models.base import Model
from vaelab.objectives.base import Objective
from vaelab.registry import option


@dataclass(frozen=True)
class ScoreFunctionConfig:
    baseline: str = option("none", "control variate: none, mean (running average), nvil "
                           "(input-dependent, Mnih & Gregor 2014) or vimco (leave-one-out: "
                           "VIMCO for L_K, Mnih & Rezende 2016; for the ELBO, REINFORCE "
                           "leave-one-out, Kool et al. 2019; K >= 2)", choices=tuple(BASELINES))


@ESTIMATORS.register("score_function", ScoreFunctionConfig,
                     help="likelihood ratio / REINFORCE with a baseline (unbiased, any q)")
class ScoreFunction(Estimator):
    name = "score_function"
    needs_stochastic_q = True

    def __init__(self, K: int = 1, config: ScoreFunctionConfig | None = None,
                 x_dim: int | None = None) -> None:
        super().__init__(K, config or ScoreFunctionConfig())
        baseline = self.config.baseline
        if baseline not in BASELINES:
            raise ConfigError(f"unknown baseline '{baseline}': choose {', '.join(BASELINES)}")
        if baseline == "vimco" and K < 2:
            raise ConfigError("the vimco (leave-one-out) baseline needs --k 2 or more")
        if baseline == "nvil":
            if x_dim is None:
                raise ConfigError("the nvil baseline needs x_dim, the size of one example")
            self.baseline: Baseline = NVIL(x_dim)
        else:
            self.baseline = BASELINES[baseline]()

    def check(self, model: Model, objective: Objective) -> None:
        super().check(model, objective)
        if objective.learning_signal(torch.zeros(2, 1)) is None:
            raise ConfigError(f"the score-function estimator needs an objective with a learning "
                              f"signal (the plain ELBO or L_K), not {objective.label}: beta, KL "
                              "warm-up and free bits train with reparam or stl")

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = model.posterior(x)
        s = score(model, x, q.sample((self.K,)), q)
        log_w = s.log_w
        f = objective.bound
        bound = f(log_w).detach()
        signal, scale = learning_signal(objective, log_w.detach())
        b, aux = self.baseline(signal, x.flatten(1), log_w, objective)
        coef = (scale * (signal - b)).detach()
        inference_term = f(s.log_w_phi) + (coef * s.log_q).sum(0)
        return Terms(bound, f(s.log_w_theta), inference_term, s, aux + self._aux(model, s))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, baseline={self.baseline.name}"
