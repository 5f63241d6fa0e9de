"""A trivial baseline: the data's log-likelihood under independent per-value distributions
fitted to the data themselves. Any model worth training beats it; a training bound far below
it means the run has diverged."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaelab.data import ImageDataset
from vaelab.models.likelihoods import MIN_STD


@torch.no_grad()
def factorized_log_likelihood(data: ImageDataset) -> float:
    """Mean log-likelihood per training example, in nats, of a factorized model fitted to the
    training split: Bernoulli at the mean (binary or dynamically binarized data; for grey
    levels the expected value over binarizations), a smoothed 256-bin histogram per value
    (8-bit data), or a Gaussian per value (continuous data)."""
    x = data.train.flatten(1).double()
    if data.binary or data.dynamic_binarize:
        m = x.mean(0).clamp(1e-6, 1 - 1e-6)
        return float((x * m.log() + (1 - x) * (-m).log1p()).sum(1).mean())
    if data.levels == 256:
        idx = torch.round(x * 255).long()  # [N, D]
        counts = torch.ones(x.shape[1], 256, dtype=torch.float64)  # add-one smoothing
        counts.scatter_add_(1, idx.T.contiguous(), torch.ones_like(idx.T, dtype=torch.float64))
        logp = (counts / counts.sum(1, keepdim=True)).log()  # [D, 256]
        return float(logp.gather(1, idx.T).sum(0).mean())
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-3)
    return float((-0.5 * ((x - mu) / sd) ** 2 - sd.log() - 0.5 * math.log(2 * math.pi))
                 .sum(1).mean())


@dataclass(frozen=True)
class Guard:
    """What a sound training bound looks like, per example (nats).

    - ``floor``: more than ``max(10 * abs(b), 10 * D)`` under the factorized baseline ``b``
      (D values per example) is divergence: an untrained model starts well above it, a blown-up
      one (learning rate too high) far below.
    - ``ceiling``: a probability mass is at most 1, so a bound on discrete data is at most 0; a
      Gaussian decoder whose scales have collapsed to their floor (1e-4) reaches at most
      D (log 1e4 - log(2 pi) / 2) nats, and a bound within 90% of that says the scales have
      collapsed (a density spike on data that are really discrete levels)."""

    baseline: float
    floor: float
    ceiling: float

    def check(self, loss: float, bound: float) -> str | None:
        """Why (loss, bound) is a diverged run, or None."""
        if not (math.isfinite(loss) and math.isfinite(bound)):
            return "the loss became NaN/Inf"
        if bound < self.floor:
            return (f"the training bound fell to {bound:.4g} nats, below the floor of "
                    f"{self.floor:.4g} (a factorized model of the data gets {self.baseline:.4g})")
        if bound > self.ceiling:
            return (f"the training bound rose to {bound:.4g} nats, above {self.ceiling:.4g}, "
                    "which no sound model of these data reaches (a probability mass above 1, or "
                    "a Gaussian decoder's scales collapsed to their floor; for 8-bit data use "
                    "--likelihood logistic)")
        return None


def divergence_guard(data: ImageDataset, likelihood: str) -> Guard:
    """The :class:`Guard` of a run on ``data`` with this likelihood."""
    b = factorized_log_likelihood(data)
    if likelihood == "gaussian":
        ceiling = 0.9 * data.dim * (math.log(1 / MIN_STD) - 0.5 * math.log(2 * math.pi))
    else:
        ceiling = 1e-3 * data.dim  # float rounding only
    return Guard(b, b - max(10 * abs(b), 10 * data.dim), ceiling)
