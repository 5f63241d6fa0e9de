"""Shared machinery for models with one Gaussian latent z ~ N(0, I) and any decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from vaelab.models.log_weights import LogWeights


class SingleLatentModel(nn.Module):
    """Subclasses define ``encode(x) -> Normal`` (batch ``[B, d]``), ``log_px_given_z(x, z)``
    (``z`` ``[K, B, d]`` -> ``[K, B]``) and ``latent`` (d)."""

    n_layers = 1
    latent: int

    def prior(self, batch_shape=()) -> Normal:
        p = next(self.parameters())
        zero = torch.zeros(*batch_shape, self.latent, device=p.device, dtype=p.dtype)
        return Normal(zero, torch.ones_like(zero), validate_args=False)

    def log_weights(self, x: torch.Tensor, K: int = 1, *, reparameterize: bool = True,
                    stop_q_params: bool = False) -> LogWeights:
        """Same contract and options as :meth:`vaelab.models.VAE.log_weights`."""
        q = self.encode(x)
        z = q.rsample((K,))
        if not reparameterize:
            z = z.detach()
        z_used = z.view_as(z)
        qd = Normal(q.loc.detach(), q.scale.detach(), validate_args=False) if stop_q_params else q
        log_qz = qd.log_prob(z_used).sum(-1)
        log_pz = self.prior().log_prob(z_used).sum(-1)
        return LogWeights(self.log_px_given_z(x, z_used), log_pz, log_qz, [z_used], q)

    def analytic_kl(self, x: torch.Tensor) -> torch.Tensor:
        q = self.encode(x)
        return kl_divergence(q, self.prior(q.batch_shape[:-1])).sum(-1)
