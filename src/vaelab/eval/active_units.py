"""Active units (Burda et al. 2015): unit u is active if Cov_x(E_{q(u|x)}[u]) > 1e-2."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def posterior_means(model: nn.Module, data: torch.Tensor, batch_size: int = 1000,
                    n_samples: int = 32) -> list[torch.Tensor]:
    """E_q[z_l | x] for each stochastic layer l, each ``[N, d_l]``. Layer 1 is exact (mu(x));
    deeper layers average mu_l(z_{l-1}) over ``n_samples`` draws of z_{l-1}."""
    device = next(model.parameters()).device
    n_layers = getattr(model, "n_layers", 1)
    outs: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]
    for i in range(0, len(data), batch_size) if n_layers else []:
        x = data[i:i + batch_size].to(device)
        q = model.encode(x)
        outs[0].append(q.loc.cpu())
        z = q.sample((n_samples,))
        for li in range(1, n_layers):
            q = model.encoder[li](z)
            outs[li].append(q.loc.mean(0).cpu())
            z = q.sample()
    return [torch.cat(o) for o in outs]


def active_units(means: torch.Tensor, threshold: float = 1e-2) -> tuple[int, torch.Tensor]:
    """Count of units whose posterior mean varies across data more than ``threshold``, and the
    per-unit variances ``[d]``."""
    var = means.double().var(0, unbiased=False)
    return int((var > threshold).sum()), var
