"""A point mass at a value (a deterministic posterior, e.g. VQ-VAE's one-hot codes)."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, constraints


class PointMass(Distribution):
    """delta(z - value) over the last ``event_dims`` dimensions of ``value``.

    ``rsample`` returns the value itself (with its graph: a straight-through estimate passes
    through), ``log_prob`` is 0: the log-mass of a one-hot q(z|x) at its own value.
    """

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = True

    def __init__(self, value: torch.Tensor, event_dims: int = 1) -> None:
        self.value = value
        cut = value.ndim - event_dims
        super().__init__(value.shape[:cut], value.shape[cut:], validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.value

    def rsample(self, sample_shape=()) -> torch.Tensor:
        return self.value.expand(*sample_shape, *self.value.shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return torch.zeros(value.shape[: value.ndim - len(self.event_shape)],
                           dtype=value.dtype, device=value.device)
