"""The core contract: per-sample log-weights ``log w = log p(x, z) - log q(z | x)``, ``[K, B]``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Normal


@dataclass
class LogWeights:
    """What a model returns for K posterior samples per example.

    Attributes (all ``[K, B]`` unless noted):
        log_px_z: log p(x | z), the reconstruction term.
        log_pz:   log p(z), the prior (all stochastic layers).
        log_qz:   log q(z | x) (with stopped parameters if the model was asked for them).
        z:        the samples per stochastic layer, ``[K, B, d_l]``, as the densities consume them
                  (estimators may hook their gradients, e.g. DReG).
        q0:       q(z_1 | x) with batch shape ``[B, d_1]`` (analytic KL, active units).
        penalty:  ``[B]`` auxiliary training losses outside the bound (VQ-VAE's codebook and
                  commitment terms), subtracted from the training objective; None if none.
    """

    log_px_z: torch.Tensor
    log_pz: torch.Tensor
    log_qz: torch.Tensor
    z: list[torch.Tensor]
    q0: Normal | None
    penalty: torch.Tensor | None = None

    @property
    def log_w(self) -> torch.Tensor:
        """log w_k = log p(x, z_k) - log q(z_k | x), ``[K, B]``."""
        return self.log_px_z + self.log_pz - self.log_qz

    @property
    def K(self) -> int:
        return self.log_px_z.shape[0]
