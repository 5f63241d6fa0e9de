"""Pathwise estimators: reparameterization, sticking the landing (STL) and DReG."""

from __future__ import annotations

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.estimators.base import Estimator, EstimatorOutput
from vaelab.objectives.bounds import normalized_weights


class Reparam(Estimator):
    """grad of E_eps[f(mu + sigma * eps)] through the sample (Kingma & Welling 2014)."""

    name = "reparam"

    def forward(self, model: nn.Module, x: torch.Tensor) -> EstimatorOutput:
        lw = model.log_weights(x, self.K)
        return EstimatorOutput(self.objective_fn(lw.log_w).detach(), self.training_objective(lw),
                               lw)


class STL(Estimator):
    """Sticking the landing (Roeder et al. 2017): the pathwise gradient with the score term
    grad_phi log q_phi(z)|_z dropped, by evaluating log q with stopped parameters. Unbiased; zero
    variance for the encoder when q equals the true posterior."""

    name = "stl"

    def forward(self, model: nn.Module, x: torch.Tensor) -> EstimatorOutput:
        lw = model.log_weights(x, self.K, stop_q_params=True)
        return EstimatorOutput(self.objective_fn(lw.log_w).detach(), self.training_objective(lw),
                               lw)


class DReG(Estimator):
    """Doubly reparameterized gradient for IWAE (Tucker et al. 2019):

        grad_phi L_K ~= sum_k w~_k^2 (d log w_k / d z_k) (d z_k / d phi),

    with log q under stopped parameters; theta keeps the IWAE gradient sum_k w~_k grad log p_k.
    One backward pass: the gradient reaching each z_k is scaled by w~_k (a hook), so the
    logsumexp's w~_k becomes w~_k^2 on the phi path only."""

    name = "dreg"

    def __init__(self, objective: str = "iwae", K: int = 1) -> None:
        super().__init__(objective, K)
        if objective != "iwae":
            raise ConfigError("dreg is an estimator for the IWAE bound (--model iwae); for the "
                              "ELBO use stl, which DReG reduces to there")

    def forward(self, model: nn.Module, x: torch.Tensor) -> EstimatorOutput:
        lw = model.log_weights(x, self.K, stop_q_params=True)
        log_w = lw.log_w
        w = normalized_weights(log_w).unsqueeze(-1)  # [K, B, 1]
        for z in lw.z:
            if z.requires_grad:
                z.register_hook(lambda g, w=w: g * w)
        bound = self.objective_fn(log_w)
        return EstimatorOutput(bound.detach(), bound, lw)
