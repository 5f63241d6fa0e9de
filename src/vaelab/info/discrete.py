"""Information quantities for discrete distributions (probability vectors and joint tables).

``base=2`` gives bits, ``base=math.e`` nats. Probability vectors lie along the last dimension.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, kl_divergence


def _log(base: float) -> float:
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1, got {base}")
    return math.log(base)


def _check(p: torch.Tensor, name: str = "p") -> torch.Tensor:
    p = torch.as_tensor(p, dtype=torch.float64)
    if (p < 0).any() or not torch.allclose(p.sum(-1), torch.ones((), dtype=p.dtype), atol=1e-6):
        raise ValueError(f"{name} must be non-negative and sum to 1 along its last dimension")
    return p


def self_information(p: float | torch.Tensor, base: float = 2) -> torch.Tensor:
    """I(x) = -log P(x): 0 for a certain event, 1 bit for a fair coin's outcome."""
    return -torch.log(torch.as_tensor(p, dtype=torch.float64)) / _log(base)


def entropy(p: torch.Tensor, base: float = 2) -> torch.Tensor:
    """H(P) = E_P[-log P(x)] = -sum_x P(x) log P(x) (0 log 0 = 0)."""
    return Categorical(probs=_check(p)).entropy() / _log(base)


def cross_entropy(p: torch.Tensor, q: torch.Tensor, base: float = 2) -> torch.Tensor:
    """H(P, Q) = -sum_x P(x) log Q(x) = H(P) + KL(P || Q)."""
    p, q = _check(p), _check(q, "q")
    terms = torch.where(p > 0, -p * torch.log(q), torch.zeros_like(p))
    return terms.sum(-1) / _log(base)


def kl(p: torch.Tensor, q: torch.Tensor, base: float = 2) -> torch.Tensor:
    """D_KL(P || Q) = sum_x P(x) log(P(x) / Q(x)) >= 0; infinite where Q(x)=0 < P(x)."""
    p, q = _check(p), _check(q, "q")
    if ((q == 0) & (p > 0)).any():
        return torch.full(p.shape[:-1], math.inf, dtype=p.dtype)
    return kl_divergence(Categorical(probs=p), Categorical(probs=q)) / _log(base)


def mutual_information(joint: torch.Tensor, base: float = 2) -> torch.Tensor:
    """I(X; Y) = H(X) + H(Y) - H(X, Y) = KL(P(x,y) || P(x) P(y)) for a joint table ``[nx, ny]``."""
    j = torch.as_tensor(joint, dtype=torch.float64)
    if j.ndim != 2:
        raise ValueError("joint must be a 2-D table P(x, y)")
    flat = _check(j.reshape(-1), "joint")
    px, py = j.sum(1), j.sum(0)
    return kl(flat, (px[:, None] * py[None, :]).reshape(-1), base)


def conditional_entropy(joint: torch.Tensor, base: float = 2) -> torch.Tensor:
    """H(X | Y) = H(X, Y) - H(Y) for a joint table ``[nx, ny]``."""
    j = torch.as_tensor(joint, dtype=torch.float64)
    return entropy(j.reshape(-1), base) - entropy(j.sum(0), base)


def uniform_entropy(n: int, base: float = 2) -> float:
    """log n: a fair coin 1 bit, a fair die log2 6 = 2.585 bits, a 10,000-word vocabulary 13.29."""
    return math.log(n) / _log(base)


def max_image_information(height: int, width: int, channels: int = 3,
                          bits_per_value: int = 8) -> int:
    """Upper bound on the information in an image, in bits: every value uniform and independent
    (a 1000x1000 RGB image: at most 24 million bits)."""
    return height * width * channels * bits_per_value
