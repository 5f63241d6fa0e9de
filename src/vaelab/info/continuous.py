"""Differential entropy and KL for continuous distributions: closed forms through
``torch.distributions`` where they exist, Monte Carlo with a standard error otherwise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Distribution, kl_divergence


@dataclass
class Estimate:
    """A Monte Carlo estimate and its standard error."""

    value: float
    stderr: float

    def to_dict(self) -> dict:
        return {"value": self.value, "stderr": self.stderr}


def _mean_se(v: torch.Tensor) -> Estimate:
    v = v.double().flatten()
    return Estimate(float(v.mean()), float(v.std() / math.sqrt(len(v))))


def entropy(d: Distribution, n: int = 0) -> torch.Tensor | Estimate:
    """H(d) in nats: closed form when ``n == 0`` (``d.entropy()``), else MC E[-log d(x)] with
    ``n`` samples (summed over the event dimensions)."""
    if n == 0:
        return d.entropy()
    return mc_entropy(d, n)


def mc_entropy(d: Distribution, n: int) -> Estimate:
    x = d.sample((n,))
    lp = d.log_prob(x)
    return _mean_se(-lp.reshape(n, -1).sum(-1))


def kl(p: Distribution, q: Distribution, n: int = 0) -> torch.Tensor | Estimate:
    """KL(p || q) in nats: closed form (``torch.distributions.kl_divergence``) when registered
    and ``n == 0``; else Monte Carlo E_p[log p(x) - log q(x)] with ``n`` samples."""
    if n == 0:
        try:
            return kl_divergence(p, q)
        except NotImplementedError:
            n = 10000
    return mc_kl(p, q, n)


def mc_kl(p: Distribution, q: Distribution, n: int) -> Estimate:
    x = p.sample((n,))
    return _mean_se((p.log_prob(x) - q.log_prob(x)).reshape(n, -1).sum(-1))
