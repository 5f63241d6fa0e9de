"""The importance-weighted bound L_K (Burda et al. 2015) as a training objective."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.objectives.base import OBJECTIVES, Objective
from vaelab.objectives.bounds import iwae_bound
from vaelab.objectives.samples import Samples


@dataclass(frozen=True)
class IWAEConfig:
    """L_K = log (1/K) sum_k w_k has no options; K is the estimator's number of samples."""


@OBJECTIVES.register("iwae", IWAEConfig, help="the importance-weighted bound L_K (Burda et al. "
                     "2015); K=1 is the ELBO")
class IWAE(Objective):
    name = "iwae"
    importance_weighted = True

    def __init__(self, config: IWAEConfig | None = None) -> None:
        self.config = config or IWAEConfig()

    def __call__(self, s: Samples) -> torch.Tensor:
        return iwae_bound(s.log_w)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return iwae_bound(log_w)

    def learning_signal(self, log_w: torch.Tensor) -> tuple[torch.Tensor, float]:
        """L_K itself for every draw (scale 1): the score-function gradient of L_K."""
        return iwae_bound(log_w).expand_as(log_w), 1.0

    def leave_one_out(self, log_w: torch.Tensor) -> torch.Tensor:
        """VIMCO (Mnih & Rezende 2016): L_K with w_k replaced by the geometric mean of the
        others, log((sum_{j != k} w_j + w^_{-k}) / K)."""
        K = log_w.shape[0]
        mean_others = (log_w.sum(0, keepdim=True) - log_w) / (K - 1)  # [K, B]
        eye = torch.eye(K, dtype=torch.bool, device=log_w.device).unsqueeze(-1)  # [K, K, 1]
        replaced = torch.where(eye, mean_others.unsqueeze(1), log_w.unsqueeze(0))  # [K, K, B]
        return torch.logsumexp(replaced, 1) - math.log(K)
