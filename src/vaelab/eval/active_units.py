"""Active units (Burda et al. 2015): unit u is active if Cov_x(E_{q(u|x)}[u]) > 1e-2."""

from __future__ import annotations

import torch

from vaelab.distributions import GaussianChain
from vaelab.models.base import Model


@torch.no_grad()
def posterior_means(model: Model, data: torch.Tensor, batch_size: int = 1000,
                    n_samples: int = 32) -> list[torch.Tensor]:
    """E_q[z_l | x] for each stochastic layer l, each ``[N, d_l]``. The first layer (and a
    single-layer model's q) is exact; deeper layers of a hierarchy average loc_l(z_{l-1}) over
    ``n_samples`` draws of z_{l-1}."""
    if model.latent_dim == 0:
        return []
    device = next(model.parameters()).device
    outs: list[list[torch.Tensor]] = [[] for _ in model.latent_sizes]
    for i in range(0, len(data), batch_size):
        q = model.posterior(data[i:i + batch_size].to(device))
        means = (q.layer_means(n_samples) if isinstance(q, GaussianChain) else
                 q.mean.split(model.latent_sizes, -1))
        for out, m in zip(outs, means):
            out.append(m.cpu())
    return [torch.cat(o) for o in outs]


def active_units(means: torch.Tensor, threshold: float = 1e-2) -> tuple[int, torch.Tensor]:
    """Count of units whose posterior mean varies across data more than ``threshold``, and the
    per-unit variances ``[d]``."""
    var = means.double().var(0, unbiased=False)
    return int((var > threshold).sum()), var
