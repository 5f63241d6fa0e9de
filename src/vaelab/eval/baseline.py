"""A trivial baseline: the data's log-likelihood under independent per-value distributions
fitted to the data themselves. Any model worth training beats it; a training bound far below
it means the run has diverged."""

from __future__ import annotations

import math

import torch

from vaelab.data import ImageDataset


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


def divergence_floor(data: ImageDataset) -> tuple[float, float]:
    """(baseline b, floor): a training bound below the floor, more than max(10 abs(b), 10 D) nats
    under the factorized baseline (D values per example), counts as divergence. Generous on
    purpose: an untrained model starts well above it, a blown-up one (learning rate too high)
    far below."""
    b = factorized_log_likelihood(data)
    return b, b - max(10 * abs(b), 10 * data.dim)
