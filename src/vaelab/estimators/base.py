"""Gradient estimators for the ELBO and the IWAE bound, built on ``model.log_weights``.

Every estimator returns an :class:`EstimatorOutput` whose ``surrogate`` is built so that one
backward pass gives both gradients: w.r.t. the generative parameters theta it is the pathwise
gradient of the objective, w.r.t. the inference parameters phi it is the estimator's gradient.
(The DReG reference code returns two objectives and differentiates each w.r.t. one parameter set;
folding them into one surrogate saves a second backward pass.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.models.log_weights import LogWeights
from vaelab.objectives.bounds import OBJECTIVES
from vaelab.objectives.kl_control import beta_elbo, free_bits_elbo


@dataclass
class EstimatorOutput:
    """bound: the objective's value per example, ``[B]`` (no gradient needed from it).
    surrogate: maximise ``surrogate.mean()``; its gradient is the estimate, ``[B]``.
    log_weights: the model's output, for diagnostics."""

    bound: torch.Tensor
    surrogate: torch.Tensor
    log_weights: LogWeights


class Estimator(nn.Module):
    """Base: ``objective`` is 'elbo' ((1/K) sum log w_k) or 'iwae' (L_K); K samples per example."""

    name = "base"

    def __init__(self, objective: str = "iwae", K: int = 1) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective}")
        if K < 1:
            raise ConfigError(f"K must be >= 1, got {K}")
        self.objective, self.K = objective, K
        self.objective_fn = OBJECTIVES[objective]
        self.beta, self.free_bits = 1.0, 0.0  # KL weight and free bits (ELBO only)

    def training_objective(self, lw: LogWeights) -> torch.Tensor:
        """The objective to differentiate, ``[B]``: the bound, or its KL-reweighted form, minus
        any auxiliary penalty the model reports."""
        if self.objective == "elbo" and self.free_bits > 0:
            obj = free_bits_elbo(lw, self.free_bits, self.beta)
        elif self.objective == "elbo" and self.beta != 1.0:
            obj = beta_elbo(lw, self.beta)
        else:
            obj = self.objective_fn(lw.log_w)
        return obj if lw.penalty is None else obj - lw.penalty

    def forward(self, model: nn.Module, x: torch.Tensor) -> EstimatorOutput:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"objective={self.objective}, K={self.K}"
