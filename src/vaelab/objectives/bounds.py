"""Variational bounds as pure functions of log-weights ``log_w`` of shape ``[K, B]``.

Each returns one value per example, ``[B]``; the caller reduces over the batch.
"""

from __future__ import annotations

import math

import torch

from vaelab.stats import ess


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
    """ESS = 1 / sum_k w~_k^2 = (sum w)^2 / sum w^2, in [1, K], ``[B]`` (no gradient)."""
    return ess(log_w.detach(), 0)


def grouped_iwae_bound(log_w: torch.Tensor, k: int) -> torch.Tensor:
    """Estimate of L_k from K >= k samples: the mean of L_k over floor(K/k) disjoint groups.

    Unbiased for L_k, with lower variance than using k samples only. ``[B]``."""
    K, B = log_w.shape
    if k > K:
        raise ValueError(f"need at least k={k} samples, got {K}")
    g = K // k
    return iwae_bound(log_w[: g * k].reshape(g, k, B).transpose(0, 1)).mean(0)


def renyi_bound(log_w: torch.Tensor, alpha: float) -> torch.Tensor:
    """The Renyi variational bound (Li & Turner 2016) from K draws:
    L_alpha = 1/(1 - alpha) log (1/K) sum_k w_k^(1 - alpha). alpha = 0 is L_K, alpha -> 1 the
    ELBO; for fixed draws it falls as alpha grows (power means), and in expectation it equals
    log p(x) - D_alpha(q || p(z|x)) as K grows. ``[B]``."""
    if alpha == 1:
        return elbo(log_w)
    return (torch.logsumexp((1 - alpha) * log_w, 0) - math.log(log_w.shape[0])) / (1 - alpha)


def miwae_bound(log_w: torch.Tensor, groups: int) -> torch.Tensor:
    """MIWAE(M, K) (Rainforth et al. 2018): the mean of M independent L_K, from M * K draws
    ``[M * K, B]`` (consecutive groups of K). M = 1 is L_K, K = 1 the ELBO. ``[B]``."""
    total = log_w.shape[0]
    if groups < 1 or total % groups:
        raise ValueError(f"{total} draws do not split into {groups} equal groups")
    return grouped_iwae_bound(log_w, total // groups)


def ciwae_bound(log_w: torch.Tensor, elbo_weight: float) -> torch.Tensor:
    """CIWAE (Rainforth et al. 2018): beta ELBO + (1 - beta) L_K with beta = ``elbo_weight`` in
    [0, 1]. ``[B]``."""
    return elbo_weight * elbo(log_w) + (1 - elbo_weight) * iwae_bound(log_w)

