"""Reading diagonal Gaussians out of distributions: what the information diagnostics, free bits
and the total correlation need of a posterior or a prior."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Independent, Normal

from vaelab.distributions.chain import GaussianChain
from vaelab.errors import ConfigError


def gaussian_params(q: Distribution) -> tuple[torch.Tensor, torch.Tensor]:
    """Location and scale ``[B, d]`` of a diagonal Gaussian q(z|x) (of its first layer for a
    :class:`~vaelab.distributions.GaussianChain`): what the information diagnostics need."""
    if isinstance(q, GaussianChain):
        q = q.first
    if isinstance(q, Independent) and isinstance(q.base_dist, Normal):
        return q.base_dist.loc, q.base_dist.scale
    if isinstance(q, Normal):
        return q.loc, q.scale
    raise ConfigError(f"this diagnostic needs a diagonal Gaussian posterior, not "
                      f"{type(q).__name__}")


def diagonal_normal(d: Distribution, what: str, user: str = "free bits need") -> Normal:
    """The per-dimension ``Normal`` of a diagonal Gaussian ``Independent(Normal)``, or a one-line
    error saying that ``user`` needs one for ``what`` (a posterior, a prior)."""
    if isinstance(d, Independent) and isinstance(d.base_dist, Normal):
        return d.base_dist
    raise ConfigError(f"{user} a diagonal Gaussian {what} (Independent(Normal)), not "
                      f"{type(d).__name__}")
