"""Active units (Burda et al. 2015): unit u is active if Cov_x(E_{q(u|x)}[u]) > 1e-2."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class LatentActivity:
    """What each dimension of the first stochastic layer carries, over a set of examples.

    ``variance[j]`` = Var_x E[z_j | x], the statistic of Burda et al.'s active units; ``active``
    its test against ``ACTIVE_THRESHOLD`` (one definition everywhere in vaelab); ``kl[j]`` =
    E_x KL(q(z_j|x) || p(z_j)) where the model's prior is N(0, I) per dimension (where the prior
    does not factorize into per-dimension Gaussians, a per-dimension KL is not defined: None)."""

    variance: torch.Tensor
    active: torch.Tensor
    kl: torch.Tensor | None

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    def ranked(self) -> list[int]:
        """Dimensions from most to least informative: by KL where it is defined, else by the
        variance of the posterior mean."""
        key = self.kl if self.kl is not None else self.variance
        return key.argsort(descending=True).tolist()


ACTIVE_THRESHOLD = 1e-2
ACTIVE_LABEL = "active: Var_x E[z_j|x] > 0.01 (Burda et al. 2015)"


@torch.no_grad()
def latent_activity(model: Model, data: torch.Tensor, batch_size: int = 1000) -> LatentActivity:
    """Per-dimension activity of the first stochastic layer (see :class:`LatentActivity`)."""
    from torch.distributions import Normal, kl_divergence

    from vaelab.distributions import gaussian_params

    means = posterior_means(model, data, batch_size)[0]
    _, var = active_units(means, ACTIVE_THRESHOLD)
    kl = None
    if model.capabilities.gaussian_posterior and model.capabilities.standard_normal_prior \
            and len(model.latent_sizes) == 1:
        device = next(model.parameters()).device
        kls = []
        for i in range(0, len(data), batch_size):
            loc, scale = gaussian_params(model.posterior(data[i:i + batch_size].to(device)))
            q = Normal(loc.double(), scale.double())
            kls.append(kl_divergence(q, Normal(0.0, 1.0)).cpu())
        kl = torch.cat(kls).mean(0)
    return LatentActivity(var, var > ACTIVE_THRESHOLD, kl)
