"""Latent traversals: decode z = mu(x) with one dimension swept over a range."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def traversal(model: nn.Module, x: torch.Tensor, dims: list[int], steps: int = 9,
              span: float = 3.0) -> torch.Tensor:
    """Decoder means ``[len(dims) * steps, D]``: row r sweeps dimension dims[r] over
    [-span, span] from the posterior mean of the single image ``x`` ``[1, D]``."""
    mu = model.encode(x).loc[0]
    values = torch.linspace(-span, span, steps, device=mu.device)
    z = mu.repeat(len(dims), steps, 1)  # [rows, steps, d]
    for r, j in enumerate(dims):
        z[r, :, j] = values
    return model.decode(z.reshape(-1, len(mu))).mean
