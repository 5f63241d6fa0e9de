"""The discretized logistic likelihood for 8-bit data (Salimans et al. 2017, PixelCNN++),
computed in log space.

Data in [0, 1] with 256 levels is mapped to [-1, 1]; level x has the probability mass of a
logistic(mu, s) between x - 1/255 and x + 1/255, with the outermost bins extended to -inf/+inf::

    log P(x) = log(sigmoid(a) - sigmoid(b)),  a = (x + 1/255 - mu)/s,  b = (x - 1/255 - mu)/s
             = -softplus(-a) - softplus(b) + log(1 - exp(-(a - b)))       (exact, stable)
    log P(0) = -softplus(-a),   log P(255) = -softplus(b)

The masses of the 256 levels sum to one (they telescope).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Distribution, constraints

MIN_LOG_SCALE = -7.0


def log1mexp(d: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(-d)) for d > 0 (Maechler 2012: two branches, each accurate where used)."""
    return torch.where(d < math.log(2), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


class DiscretizedLogistic(Distribution):
    """Independent discretized logistics, one per value; ``loc`` and ``log_scale`` have the shape
    of the data (values in [0, 1], ``levels`` equally spaced levels). ``log_prob`` is
    elementwise: sum it over the event dimensions (or wrap in ``Independent``)."""

    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval

    def __init__(self, loc: torch.Tensor, log_scale: torch.Tensor, levels: int = 256) -> None:
        self.loc, self.log_scale = loc, log_scale.clamp_min(MIN_LOG_SCALE)
        self.levels = levels
        super().__init__(loc.shape, validate_args=False)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        half = 1.0 / (self.levels - 1)
        xs = 2 * x - 1  # [0, 1] -> [-1, 1]; bins have half-width 1/(levels-1)
        inv_s = torch.exp(-self.log_scale)
        a = (xs + half - self.loc) * inv_s
        b = (xs - half - self.loc) * inv_s
        mid = -F.softplus(-a) - F.softplus(b) + log1mexp(2 * half * inv_s)
        lo = -F.softplus(-a)  # the lowest level takes all mass below
        hi = -F.softplus(b)   # the highest level takes all mass above
        return torch.where(xs < -1 + half, lo, torch.where(xs > 1 - half, hi, mid))

    @property
    def mean(self) -> torch.Tensor:
        """The median (= mean of the undiscretized logistic), clipped to the data range."""
        return ((self.loc.clamp(-1, 1) + 1) / 2)

    def sample(self, sample_shape=()) -> torch.Tensor:
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            u = torch.rand(shape, device=self.loc.device, dtype=self.loc.dtype)
            u = u.clamp(1e-5, 1 - 1e-5)
            x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
            x = ((x.clamp(-1, 1) + 1) / 2 * (self.levels - 1)).round()
            return x / (self.levels - 1)
