"""Observation models p(x | decoder output) over images ``[..., C, H, W]`` (or vectors).

A decoder emits ``n_params`` numbers per data value, laid out as ``[..., n_params, *x_shape]``;
``Likelihood.dist`` turns them into a distribution whose ``log_prob(x)`` sums over the data
dimensions and whose ``mean`` is an image in [0, 1].

=============  ========  =====================================================  =============
name           n_params  p(x_i | .)                                             data
=============  ========  =====================================================  =============
bernoulli      1         Bernoulli(logits)                                      binary
gaussian       2         Normal(mu, softplus(r) + 1e-4) (a density: nats only)  continuous
logistic       2         discretized logistic(mu, log s), 256 levels            8-bit
categorical    256       256-way softmax over the levels                        8-bit
=============  ========  =====================================================  =============

``discrete`` likelihoods give probability masses, so -log p(x) / (D log 2) is bits per dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical, Distribution, Independent, Normal

from vaelab.distributions import DiscretizedLogistic
from vaelab.errors import ConfigError

MIN_STD = 1e-4
LEVELS = 256


class LevelCategorical(Distribution):
    """A 256-way categorical per value over levels k/255; ``log_prob`` takes x in [0, 1]."""

    arg_constraints: dict = {}

    def __init__(self, logits: torch.Tensor) -> None:  # logits [..., levels]
        self.cat = Categorical(logits=logits, validate_args=False)
        super().__init__(logits.shape[:-1], validate_args=False)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.cat.log_prob(torch.round(x * (LEVELS - 1)).long())

    @property
    def mean(self) -> torch.Tensor:
        levels = torch.arange(LEVELS, device=self.cat.probs.device, dtype=self.cat.probs.dtype)
        return (self.cat.probs * levels).sum(-1) / (LEVELS - 1)

    def sample(self, sample_shape=()) -> torch.Tensor:
        return self.cat.sample(sample_shape).to(self.cat.logits.dtype) / (LEVELS - 1)


class BernoulliImage(Independent):
    """Independent Bernoulli values over ``event_dims`` data dims. ``log_prob`` is
    sum(x * logits) - sum(softplus(logits)) (= -BCE with logits), summed *before* anything is
    negated: torch's Bernoulli negates a full ``[K, B, *x_shape]`` tensor, the largest cost of a
    CPU evaluation pass (BENCHMARKS.md section 10)."""

    def __init__(self, logits: torch.Tensor, event_dims: int) -> None:
        super().__init__(Bernoulli(logits=logits, validate_args=False), event_dims,
                         validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        logits = self.base_dist.logits
        dims = tuple(range(-self.reinterpreted_batch_ndims, 0))
        return (logits * value).sum(dims) - F.softplus(logits).sum(dims)


@dataclass(frozen=True)
class Likelihood:
    """An observation model; see the module docstring for the table."""

    name: str
    n_params: int
    discrete: bool
    description: str

    def dist(self, params: torch.Tensor, event_dims: int) -> Distribution:
        """params ``[..., n_params, *x_shape]`` -> p(x | params) with ``event_dims`` data dims."""
        p = params.movedim(-event_dims - 1, -1)  # [..., *x_shape, n_params]
        if self.name == "bernoulli":
            return BernoulliImage(p[..., 0], event_dims)
        base: Distribution
        if self.name == "gaussian":
            base = Normal(p[..., 0], F.softplus(p[..., 1]) + MIN_STD, validate_args=False)
        elif self.name == "logistic":
            base = DiscretizedLogistic(p[..., 0], p[..., 1])
        else:
            base = LevelCategorical(p)
        return Independent(base, event_dims, validate_args=False)

    def output_bias(self, mean_x: torch.Tensor) -> torch.Tensor:
        """A decoder output bias ``[n_params, *x_shape]`` that starts p(x) at the data mean:
        Burda et al.'s logit of the mean image for Bernoulli; the mean, at a moderate scale,
        for the others."""
        m = mean_x.clamp(1e-3, 1 - 1e-3)
        if self.name == "bernoulli":
            return (torch.log(m) - torch.log1p(-m))[None]
        if self.name == "gaussian":
            return torch.stack([m, torch.full_like(m, math.log(math.expm1(0.1)))])
        if self.name == "logistic":
            return torch.stack([2 * m - 1, torch.full_like(m, math.log(0.1))])
        levels = torch.arange(LEVELS, dtype=m.dtype) / (LEVELS - 1)
        return -((levels.view(-1, *[1] * m.ndim) - m) ** 2) / (2 * 0.1 ** 2)


LIKELIHOODS = {
    "bernoulli": Likelihood("bernoulli", 1, True, "binary data: Bernoulli per value"),
    "gaussian": Likelihood("gaussian", 2, False, "continuous data: Gaussian per value (a "
                           "density: no bits/dim)"),
    "logistic": Likelihood("logistic", 2, True, "8-bit data: discretized logistic per value "
                           "(PixelCNN++)"),
    "categorical": Likelihood("categorical", LEVELS, True, "8-bit data: 256-way softmax per "
                              "value"),
}


def get_likelihood(name: str) -> Likelihood:
    if name not in LIKELIHOODS:
        raise ConfigError(f"unknown likelihood '{name}': choose one of {', '.join(LIKELIHOODS)}")
    return LIKELIHOODS[name]
