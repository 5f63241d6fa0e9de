"""Latent traversals: generate from z = E_q[z|x] with one dimension swept over a range."""

from __future__ import annotations

import torch

from vaelab.errors import ConfigError
from vaelab.models.base import Model


@torch.no_grad()
def traversal(model: Model, x: torch.Tensor, dims: list[int], steps: int = 9,
              span: float = 3.0) -> torch.Tensor:
    """Images ``[len(dims) * steps, *x_shape]``: row r sweeps latent dimension dims[r] over
    [-span, span] from the posterior mean of the single example ``x`` ``[1, *x_shape]``."""
    if model.capabilities.latent != "continuous" or len(model.latent_sizes) != 1:
        raise ConfigError("traversals need one continuous latent layer (vae --layers 1, "
                          "convvae, pixelvae, or a model of your own)")
    bad = [j for j in dims if not 0 <= j < model.latent_dim]
    if bad:
        raise ConfigError(f"latent dimensions {bad} do not exist (0 .. {model.latent_dim - 1})")
    mu = model.posterior(x).mean[0]
    values = torch.linspace(-span, span, steps, device=mu.device, dtype=mu.dtype)
    z = mu.repeat(len(dims), steps, 1)  # [rows, steps, d]
    for r, j in enumerate(dims):
        z[r, :, j] = values
    return model.generate(z.reshape(-1, len(mu)))
