"""A convolutional Gaussian VAE (the beta-VAE architecture of Higgins et al. 2017 / Burgess et
al. 2018: stride-2 4x4 convolutions, a 256-unit layer, 10 latents) for images of any number of
channels and any likelihood; ``--beta`` (an objective option) makes it a beta-VAE."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Independent

from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, DecodedModel
from vaelab.models.layers import StandardNormal, diagonal_gaussian
from vaelab.models.likelihoods import LIKELIHOODS, get_likelihood
from vaelab.models.registry import MODELS
from vaelab.registry import option


@dataclass
class ConvVAEConfig:
    x_shape: tuple = option((1, 64, 64), "shape of one image (C, H, W)", cli=False)
    likelihood: str = option("bernoulli", "observation model", tuple(LIKELIHOODS), cli=False)
    latent: int = option(10, "latent dimensions")
    channels: int = option(32, "channels of the first convolutions (doubled after two)")
    hidden: int = option(256, "units of the fully connected layer")

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if len(self.x_shape) != 3:
            raise ConfigError(f"convvae needs images (C, H, W), got shape {self.x_shape}")
        for name in ("latent", "channels", "hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1 for convvae, got {getattr(self, name)}")
        if n_downsamples(self.x_shape[1:]) < 1:
            raise ConfigError(f"convvae needs even image sides, got {self.x_shape[1:]}")
        get_likelihood(self.likelihood)


def n_downsamples(shape: tuple[int, int]) -> int:
    """Stride-2 steps: as many as keep both sides integral, at most 4 (64 -> 4, 28 -> 7)."""
    n = 0
    while n < 4 and shape[0] % 2 ** (n + 1) == 0 and shape[1] % 2 ** (n + 1) == 0:
        n += 1
    return n


@MODELS.register("convvae", ConvVAEConfig, help="convolutional VAE (the beta-VAE architecture; "
                 "any channels); with --beta a beta-VAE")
class ConvVAE(DecodedModel):
    def __init__(self, config: ConvVAEConfig | None = None) -> None:
        c = self.config = config or ConvVAEConfig()
        lik = self.likelihood = get_likelihood(c.likelihood)
        super().__init__(c.x_shape, c.latent, Capabilities(
            gaussian_posterior=True, standard_normal_prior=True, analytic_kl=True,
            discrete_data=lik.discrete, simulates_data=True))
        C, H, W = c.x_shape
        n = n_downsamples((H, W))
        self.small = (H >> n, W >> n)
        ch = [C] + [c.channels * (1 if i < 2 else 2) for i in range(n)]
        flat = ch[-1] * self.small[0] * self.small[1]
        enc: list[nn.Module] = []
        for a, b in zip(ch, ch[1:]):
            enc += [nn.Conv2d(a, b, 4, 2, 1), nn.ReLU()]
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, 2 * c.latent))
        rev = [lik.n_params * C] + ch[1:]
        rev = rev[::-1]
        dec: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(rev, rev[1:])):
            dec += [nn.ConvTranspose2d(a, b, 4, 2, 1)] + ([nn.ReLU()] if i < n - 1 else [])
        self.decoder = nn.ModuleDict({
            "fc": nn.Sequential(nn.Linear(c.latent, c.hidden), nn.ReLU(), nn.Linear(c.hidden, flat),
                                nn.ReLU()),
            "up": nn.Sequential(*dec)})
        self._ch = ch[-1]
        self.standard_normal = StandardNormal(c.latent)

    def posterior(self, x: torch.Tensor) -> Independent:
        return diagonal_gaussian(self.encoder(x))

    @property
    def prior(self) -> Independent:
        return self.standard_normal()

    def decode(self, z: torch.Tensor):
        """p(x|z) for z ``[..., d]``: a distribution over ``[..., C, H, W]``."""
        lead = z.shape[:-1]
        h = self.decoder["fc"](z.reshape(-1, self.latent_dim)).view(-1, self._ch, *self.small)
        C, H, W = self.x_shape
        params = self.decoder["up"](h).view(*lead, self.likelihood.n_params, C, H, W)
        return self.likelihood.dist(params, 3)

