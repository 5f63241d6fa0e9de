"""FactorVAE (Kim & Mnih 2018): the convolutional VAE with a total-correlation penalty from the
density-ratio trick. A discriminator tells draws of the aggregate posterior q(z) from draws of
the product of its marginals (each dimension permuted across the batch); at its optimum its
logit a(z) = log D(z) / (1 - D(z)) is log q(z) - sum_j log q(z_j), so E_q[a(z)] estimates the
total correlation TC(z):

    VAE loss            -ELBO + gamma a(z),  z ~ q(z|x)   (a training-only penalty)
    discriminator loss  softplus(-a(z)) + softplus(a(perm z))   (binary cross-entropy)

Every bound vaelab reports is the VAE's own (the penalty is ``auxiliary_loss``, not part of a
bound). The discriminator is an auxiliary objective of the engine: its own Adam group (Kim &
Mnih: lr 1e-4, betas (0.5, 0.9)) on its own loss, never stepped by the VAE's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution

from vaelab.errors import ConfigError
from vaelab.models.base import AuxiliaryObjective
from vaelab.models.conv_vae import ConvVAE, ConvVAEConfig
from vaelab.models.registry import MODELS
from vaelab.registry import option


@dataclass
class FactorVAEConfig(ConvVAEConfig):
    tc_gamma: float = option(6.4, "FactorVAE: weight gamma of the total-correlation penalty "
                             "(Kim & Mnih: 6.4 on 3D shapes, 35 on dSprites)")
    disc_hidden: int = option(256, "FactorVAE: units of each discriminator layer (Kim & Mnih: "
                              "1000)")
    disc_layers: int = option(3, "FactorVAE: hidden layers of the discriminator (Kim & Mnih: 6)")
    disc_lr: float = option(1e-4, "FactorVAE: the discriminator's Adam learning rate (betas "
                            "0.5, 0.9)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.tc_gamma < float("inf"):
            raise ConfigError(f"--tc-gamma must be a finite number >= 0, got {self.tc_gamma}")
        for name in ("disc_hidden", "disc_layers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1, got "
                                  f"{getattr(self, name)}")
        if not 0 < self.disc_lr < float("inf"):
            raise ConfigError(f"--disc-lr must be a positive number, got {self.disc_lr}")


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """Each column of ``z`` ``[N, D]`` shuffled on its own: draws of prod_j q(z_j) from draws of
    q(z) (Kim & Mnih's Algorithm 2)."""
    n, d = z.shape
    idx = torch.argsort(torch.rand(n, d, device=z.device), dim=0)
    return torch.gather(z, 0, idx)


@MODELS.register("factorvae", FactorVAEConfig, help="FactorVAE (Kim & Mnih 2018): convvae with "
                 "a total-correlation penalty from a density-ratio discriminator trained beside "
                 "it (--tc-gamma)")
class FactorVAE(ConvVAE):
    side_loss = "factorvae_discriminator"
    config: FactorVAEConfig

    def __init__(self, config: FactorVAEConfig | None = None) -> None:
        c = config or FactorVAEConfig()
        super().__init__(c)
        self.capabilities = dataclasses.replace(self.capabilities, auxiliary_loss=True)
        layers: list[nn.Module] = []
        width = c.latent
        for _ in range(c.disc_layers):
            layers += [nn.Linear(width, c.disc_hidden), nn.LeakyReLU(0.2)]
            width = c.disc_hidden
        self.discriminator = nn.Sequential(*layers, nn.Linear(width, 1))

    def tc_logit(self, z: torch.Tensor) -> torch.Tensor:
        """a(z) = log D(z) / (1 - D(z)), ``[..., D]`` -> ``[...]``: at the optimum
        log q(z) - sum_j log q(z_j)."""
        return self.discriminator(z).squeeze(-1)

    def auxiliary_loss(self, q: Distribution) -> torch.Tensor:
        """gamma a(z) at a fresh draw z ~ q(z|x), ``[B]``: the TC penalty (gradient to the
        encoder through z; the discriminator's own gradient comes from its side loss)."""
        return self.config.tc_gamma * self.tc_logit(q.rsample())

    def auxiliary_objectives(self) -> list[AuxiliaryObjective]:
        return [AuxiliaryObjective(self.side_loss, tuple(self.discriminator.parameters()),
                                   self.config.disc_lr, (0.5, 0.9))]

    def side_losses(self, q: Distribution, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """The discriminator's cross-entropy on the batch's draws (label 1) and their
        dimension-permuted copies (label 0)."""
        z = z.detach().reshape(-1, z.shape[-1])
        real, perm = self.tc_logit(z), self.tc_logit(permute_dims(z))
        return {self.side_loss: (F.softplus(-real) + F.softplus(perm)).mean()}

    @torch.no_grad()
    def total_correlation(self, x: torch.Tensor) -> torch.Tensor:
        """The discriminator's estimate of TC(z) on a batch: mean a(z), z ~ q(z|x) (nats)."""
        return self.tc_logit(self.posterior(x).sample()).mean()
