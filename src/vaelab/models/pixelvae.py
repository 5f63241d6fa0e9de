"""PixelVAE (Gulrajani et al. 2016): q(z|x) = N(mu(x), sigma(x)^2) from a convolutional
encoder; p(z) = N(0, I); p(x|z) = prod_i p(x_i | x_<i, z), a gated PixelCNN conditioned on a
feature map decoded from z. ``pixel_layers = 0`` gives a factorized (conditionally independent)
decoder. Single-channel images; Bernoulli (binary) or 256-way softmax (8-bit) pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.distributions import Independent

from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, Model
from vaelab.models.layers import StandardNormal, diagonal_gaussian
from vaelab.models.pixelcnn import PixelCNN, pixel_levels
from vaelab.models.registry import MODELS
from vaelab.registry import option


@dataclass
class PixelVAEConfig:
    x_shape: tuple = option((1, 28, 28), "shape of one image (1, H, W)", cli=False)
    likelihood: str = option("bernoulli", "bernoulli or categorical pixels",
                             ("bernoulli", "categorical"), cli=False)
    latent: int = option(32, "latent dimensions")
    pixel_layers: int = option(4, "gated PixelCNN layers of the decoder (0: factorized)")
    pixel_channels: int = option(32, "channels of the PixelCNN layers")
    kernel: int = option(5, "PixelCNN kernel size (odd)")
    dropout: float = option(0.0, "dropout rate in the PixelCNN layers while training (0: "
                            "off; PixelCNN++ used 0.5)")
    cond_channels: int = option(16, "channels of the feature map decoded from z")
    enc_channels: int = option(32, "channels of the convolutional encoder")

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"pixelvae: --dropout must be in [0, 1), got {self.dropout}")
        pixel_levels(self.likelihood, self.x_shape, "pixelvae")
        if self.x_shape[1] % 4 or self.x_shape[2] % 4:
            raise ConfigError(f"pixelvae needs image sides divisible by 4, got {self.x_shape}")
        if self.pixel_layers < 0 or min(self.latent, self.pixel_channels, self.cond_channels,
                                        self.enc_channels) < 1 or self.kernel % 2 == 0:
            raise ConfigError("pixelvae: --pixel-layers >= 0, positive sizes and an odd kernel")


def conv_encoder(c: int, out: int, shape: tuple[int, int], in_ch: int = 1) -> nn.Sequential:
    h, w = shape
    return nn.Sequential(
        nn.Conv2d(in_ch, c, 3, padding=1), nn.ELU(), nn.Conv2d(c, c, 4, 2, 1), nn.ELU(),
        nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ELU(), nn.Flatten(),
        nn.Linear(2 * c * (h // 4) * (w // 4), 256), nn.ELU(), nn.Linear(256, out))


class ConvDecoder(nn.Module):
    """z -> feature map [B, cond_channels, H, W]."""

    def __init__(self, latent: int, c: int, out_ch: int, shape: tuple[int, int]) -> None:
        super().__init__()
        self.c, self.h4, self.w4 = c, shape[0] // 4, shape[1] // 4
        self.fc = nn.Sequential(nn.Linear(latent, 256), nn.ELU(),
                                nn.Linear(256, 2 * c * self.h4 * self.w4), nn.ELU())
        self.up = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ELU(),
                                nn.ConvTranspose2d(c, out_ch, 4, 2, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.fc(z).view(-1, 2 * self.c, self.h4, self.w4))


@MODELS.register("pixelvae", PixelVAEConfig, help="PixelVAE: conv encoder, gated PixelCNN "
                 "decoder conditioned on z (Gulrajani et al. 2016)")
class PixelVAE(Model):
    def __init__(self, config: PixelVAEConfig | None = None) -> None:
        c = self.config = config or PixelVAEConfig()
        self.levels = pixel_levels(c.likelihood, c.x_shape, "pixelvae")
        super().__init__(c.x_shape, c.latent, Capabilities(
            gaussian_posterior=True, standard_normal_prior=True, analytic_kl=True,
            autoregressive_decoder=True, discrete_data=True, simulates_data=True))
        hw = c.x_shape[1:]
        self.encoder = conv_encoder(c.enc_channels, 2 * c.latent, hw)
        self.decoder = nn.ModuleDict({
            "features": ConvDecoder(c.latent, c.enc_channels, c.cond_channels, hw),
            "pixelcnn": PixelCNN(c.pixel_layers, c.pixel_channels, c.kernel, self.levels,
                                 cond_channels=c.cond_channels, dropout=c.dropout)})
        self.standard_normal = StandardNormal(c.latent)

    @property
    def pixelcnn(self) -> PixelCNN:
        return cast(PixelCNN, self.decoder["pixelcnn"])

    def eval_max_samples(self) -> int:
        """Sample-example products per evaluation pass (each one is a PixelCNN forward)."""
        return self.pixelcnn.eval_max_samples(self.x_shape[1:])

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, H, W] in [0, 1] -> pixel values (0/1, or grey levels 0..255)."""
        return x if self.levels == 2 else torch.round(x * (self.levels - 1))

    def posterior(self, x: torch.Tensor) -> Independent:
        return diagonal_gaussian(self.encoder(x))

    @property
    def prior(self) -> Independent:
        return self.standard_normal()

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x ``[B, 1, H, W]`` and z ``[K, B, d]`` -> ``[K, B]``."""
        K, B = z.shape[:2]
        feats = self.decoder["features"](z.reshape(K * B, -1))
        xi = self._levels(x).repeat(K, 1, 1, 1)
        return self.pixelcnn.log_prob(xi, cond_map=feats).view(K, B)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """A sample of p(x | z): with a PixelCNN decoder, reconstructions are samples."""
        feats = self.decoder["features"](z)
        x = self.pixelcnn.sample(len(z), self.x_shape[1:], cond_map=feats)
        return x / (self.levels - 1)

    def sample_data(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z)
