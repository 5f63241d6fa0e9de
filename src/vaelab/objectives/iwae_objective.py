"""The importance-weighted bound L_K (Burda et al. 2015) as a training objective."""

from __future__ import annotations

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

    def __init__(self, config: IWAEConfig | None = None) -> None:
        self.config = config or IWAEConfig()

    def __call__(self, s: Samples) -> torch.Tensor:
        return iwae_bound(s.log_w)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return iwae_bound(log_w)
