"""Variational bounds as pure functions of log-weights ``log_w`` of shape ``[K, B]``.

Each returns one value per example, ``[B]``; the caller reduces over the batch.
"""

from __future__ import annotations

import math

import torch


def elbo(log_w: torch.Tensor) -> torch.Tensor:
    """Monte Carlo ELBO: (1/K) sum_k log w_k (Jensen: E_q log w <= log E_q w = log p(x))."""
    return log_w.mean(0)


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """L_K = log (1/K) sum_k w_k, by logsumexp (Burda et al. 2015). L_1 is the ELBO."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def elbo_analytic_kl(log_px_z: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
    """E_q[log p(x|z)] - KL(q(z|x) || p(z)) with the KL in closed form; ``log_px_z`` is [K, B]."""
    return log_px_z.mean(0) - kl


def normalized_weights(log_w: torch.Tensor) -> torch.Tensor:
    """w~_k = w_k / sum_j w_j = softmax(log_w, 0), detached (a stop-gradient by design)."""
    return torch.softmax(log_w.detach(), 0)


def effective_sample_size(log_w: torch.Tensor) -> torch.Tensor:
    """ESS = 1 / sum_k w~_k^2, in [1, K], ``[B]``."""
    return 1.0 / (normalized_weights(log_w) ** 2).sum(0)


def grouped_iwae_bound(log_w: torch.Tensor, k: int) -> torch.Tensor:
    """Estimate of L_k from K >= k samples: the mean of L_k over floor(K/k) disjoint groups.

    Unbiased for L_k, with lower variance than using k samples only. ``[B]``."""
    K, B = log_w.shape
    if k > K:
        raise ValueError(f"need at least k={k} samples, got {K}")
    g = K // k
    return iwae_bound(log_w[: g * k].reshape(g, k, B).transpose(0, 1)).mean(0)



