"""The likelihood-ratio (score-function, REINFORCE) estimator, with baselines.

grad_phi E_q[f(z)] = E_q[f(z) grad_phi log q_phi(z)]   (the lecture's "Likelihood Ratio Gradient")

ELBO:  grad_phi ~= (1/K) sum_k (log w_k - b_k) grad_phi log q(z_k|x)
IWAE:  grad_phi ~= sum_k (L^ - b_k - w~_k) grad_phi log q(z_k|x)   (Mnih & Rezende 2016)

The samples are detached, so the generative network still gets its pathwise gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.estimators.base import Estimator, EstimatorOutput
from vaelab.estimators.baselines import BASELINES, NVIL, Baseline


class ScoreFunction(Estimator):
    name = "score_function"

    def __init__(self, objective: str = "iwae", K: int = 1, baseline: str = "none",
                 x_dim: int | None = None) -> None:
        super().__init__(objective, K)
        if baseline not in BASELINES:
            raise ConfigError(f"unknown baseline '{baseline}': choose {', '.join(BASELINES)}")
        if baseline == "vimco" and K < 2:
            raise ConfigError("the vimco (leave-one-out) baseline needs --k 2 or more")
        if baseline == "nvil":
            if x_dim is None:
                raise ConfigError("the nvil baseline needs x_dim")
            self.baseline: Baseline = NVIL(x_dim)
        else:
            self.baseline = BASELINES[baseline]()

    def forward(self, model: nn.Module, x: torch.Tensor) -> EstimatorOutput:
        lw = model.log_weights(x, self.K, reparameterize=False)
        log_w = lw.log_w
        bound = self.objective_fn(log_w)  # theta: pathwise; phi: -w~_k grad log q (IWAE), etc.
        if self.objective == "elbo":
            signal, scale = log_w.detach(), 1.0 / self.K
        else:
            signal, scale = bound.detach().expand_as(log_w), 1.0
        b, aux = self.baseline(signal, x, log_w, self.objective)
        coef = (scale * (signal - b)).detach()
        surrogate = bound + (coef * lw.log_qz).sum(0) - aux
        return EstimatorOutput(bound.detach(), surrogate, lw)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, baseline={self.baseline.name}"
