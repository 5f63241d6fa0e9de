"""Training objectives that reweight the ELBO's KL term: beta-VAE (Higgins et al. 2017), KL
warm-up (a beta that grows to 1), and free bits (Kingma et al. 2016). Each returns a per-example
surrogate ``[B]``; the reported bound stays the true ELBO."""

from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence

from vaelab.models.log_weights import LogWeights


def beta_elbo(lw: LogWeights, beta: float) -> torch.Tensor:
    """(1/K) sum_k [log p(x|z_k) - beta (log q(z_k|x) - log p(z_k))]; beta = 1 is the ELBO."""
    return (lw.log_px_z - beta * (lw.log_qz - lw.log_pz)).mean(0)


def free_bits_elbo(lw: LogWeights, free_bits: float, beta: float = 1.0) -> torch.Tensor:
    """E_q[log p(x|z)] - beta sum_j max(lambda, E_batch KL(q(z_j|x) || N(0,1))): dimensions whose
    batch-average KL is below lambda nats get no gradient pushing them to the prior."""
    q = lw.q0
    kl_j = kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))).mean(0)
    penalty = torch.clamp(kl_j, min=free_bits).sum()
    return lw.log_px_z.mean(0) - beta * penalty
