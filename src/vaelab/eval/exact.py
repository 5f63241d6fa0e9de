"""Exact answers for discrete latents small enough to enumerate (up to ``MAX_CONFIGS`` values).

    log p(x)   = logsumexp_z log p(x, z)
    ELBO       = sum_z q(z|x) [log p(x, z) - log q(z|x)]
    L_K        = sum_{z_1..z_K} prod_k q(z_k|x) log (1/K) sum_k w_k     (N^K terms)

All are differentiable in theta and phi, so autograd gives the *exact* gradient that a
stochastic estimator (score function, VIMCO, Gumbel-softmax) only estimates: the reference the
estimator tests compare against.
"""

from __future__ import annotations

import itertools
import math

import torch

from vaelab.errors import ConfigError
from vaelab.models.base import Model

MAX_CONFIGS = 1 << 16


def enumerable(model: Model, limit: int = MAX_CONFIGS) -> bool:
    """True when z is discrete with at most ``limit`` values."""
    n = model.latent_support_size() if model.capabilities.latent == "discrete" else None
    return n is not None and n <= limit


def support(model: Model, limit: int = MAX_CONFIGS) -> torch.Tensor:
    """Every latent value, ``[N, D]``."""
    if not enumerable(model, limit):
        n = model.latent_support_size() if model.capabilities.latent == "discrete" else None
        raise ConfigError(f"{type(model).__name__}'s latent cannot be enumerated ("
                          + (f"{n} values, more than {limit}" if n else "not discrete") + ")")
    return model.prior.enumerate_support()


def _log_joint_and_q(model: Model, x: torch.Tensor, Z: torch.Tensor, posterior: bool = True):
    z = Z[:, None, :].expand(len(Z), len(x), Z.shape[-1])
    lj = model.log_joint(x, z)
    return lj, (model.posterior(x).log_prob(z) if posterior else None)


def exact_log_marginal(model: Model, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """log p(x) ``[B]`` by summing p(x, z) over every z: ``chunk`` latent values at a time
    (default: as many as the evaluation's memory bound allows for this batch, as importance
    sampling chunks its draws), folded into a running logsumexp, so memory does not grow with
    the number of latent values."""
    from vaelab.memory import eval_chunk

    Z = support(model)
    if chunk is None:
        chunk = max(1, eval_chunk(model, x, x.device, 1 << 16) // len(x))
    parts = [torch.logsumexp(_log_joint_and_q(model, x, Z[i:i + chunk], posterior=False)[0], 0)
             for i in range(0, len(Z), chunk)]
    return torch.logsumexp(torch.stack(parts), 0)


def exact_elbo(model: Model, x: torch.Tensor) -> torch.Tensor:
    """The ELBO ``[B]`` as an exact sum over z (differentiable)."""
    lj, lq = _log_joint_and_q(model, x, support(model))
    return (lq.exp() * (lj - lq)).sum(0)


def exact_iwae(model: Model, x: torch.Tensor, K: int, limit: int = MAX_CONFIGS) -> torch.Tensor:
    """L_K ``[B]`` as an exact sum over all N^K tuples of latent values (differentiable)."""
    Z = support(model)
    N = len(Z)
    if K < 1 or N ** K > limit:
        raise ConfigError(f"L_{K} by enumeration needs {N}^{K} terms, more than {limit}")
    lj, lq = _log_joint_and_q(model, x, Z)
    log_w = lj - lq  # [N, B]
    idx = torch.tensor(list(itertools.product(range(N), repeat=K)), device=x.device)  # [T, K]
    log_prob = lq[idx].sum(1)  # [T, B]
    value = torch.logsumexp(log_w[idx], 1) - math.log(K)
    return (log_prob.exp() * value).sum(0)
