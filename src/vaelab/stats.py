"""Estimates with their errors, in one place: the mean of per-item values with its standard
error, and the effective sample size of importance weights (with the delta-method Monte Carlo
error it gives). Pure functions of tensors; every module that reports an error bar uses them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Estimate:
    """A Monte Carlo estimate and its standard error."""

    value: float
    stderr: float

    def to_dict(self) -> dict:
        return {"value": self.value, "stderr": self.stderr}


def stderr(v: torch.Tensor) -> float:
    """Standard error of the mean of the values ``v`` (any shape, float64): std / sqrt(n); NaN
    for fewer than two values."""
    v = v.double().flatten()
    return float(v.std() / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def mean_se(v: torch.Tensor) -> Estimate:
    """The mean of ``v`` with its standard error."""
    v = v.double().flatten()
    return Estimate(float(v.mean()), stderr(v))


def ess_from_logsumexps(lse1: torch.Tensor, lse2: torch.Tensor) -> torch.Tensor:
    """ESS = (sum w)^2 / sum w^2 from log sum w and log sum w^2 (running accumulators)."""
    return torch.exp(2 * lse1 - lse2)


def ess(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Effective sample size of importance weights w = exp(log_w) along ``dim``: in [1, n]."""
    return ess_from_logsumexps(torch.logsumexp(log_w, dim), torch.logsumexp(2 * log_w, dim))


def delta_mc_stderr(ess_: torch.Tensor, n: int) -> torch.Tensor:
    """The Monte Carlo standard error of log (1/n) sum w by the delta method,
    sqrt(1/ESS - 1/n): an estimate from the draws themselves, low for heavy-tailed weights."""
    return (1 / ess_ - 1 / n).clamp_min(0).sqrt()
