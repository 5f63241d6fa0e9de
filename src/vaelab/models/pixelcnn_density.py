"""A PixelCNN alone (van den Oord et al. 2016): exact log p(x), as a model without a latent.

Its latent is empty (D = 0): q(z|x) and p(z) are distributions over zero dimensions, so
log w = log p(x) for every sample and every bound equals the exact log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Independent, Normal

from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, Model
from vaelab.models.pixelcnn import PixelCNN, pixel_levels
from vaelab.models.registry import MODELS
from vaelab.registry import option


@dataclass
class PixelCNNConfig:
    x_shape: tuple = option((1, 28, 28), "shape of one image (1, H, W)", cli=False)
    likelihood: str = option("bernoulli", "bernoulli or categorical pixels",
                             ("bernoulli", "categorical"), cli=False)
    pixel_layers: int = option(4, "gated PixelCNN layers")
    pixel_channels: int = option(32, "channels of the PixelCNN layers")
    kernel: int = option(5, "kernel size (odd)")
    dropout: float = option(0.0, "dropout rate in the PixelCNN layers while training (0: "
                            "off; PixelCNN++ used 0.5)")

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"pixelcnn: --dropout must be in [0, 1), got {self.dropout}")
        pixel_levels(self.likelihood, self.x_shape, "pixelcnn")
        if self.pixel_layers < 1 or self.pixel_channels < 1 or self.kernel % 2 == 0:
            raise ConfigError("pixelcnn: --pixel-layers and --pixel-channels must be >= 1 and "
                              "the kernel odd")


def _empty(batch: tuple, like: torch.Tensor) -> Independent:
    zero = like.new_zeros(*batch, 0)
    return Independent(Normal(zero, zero + 1, validate_args=False), 1, validate_args=False)


@MODELS.register("pixelcnn", PixelCNNConfig, help="a gated PixelCNN alone: exact log p(x), "
                 "no latent")
class PixelCNNDensity(Model):
    capabilities = Capabilities(latent="none", autoregressive_decoder=True, discrete_data=True)

    def __init__(self, config: PixelCNNConfig | None = None) -> None:
        c = self.config = config or PixelCNNConfig()
        self.levels = pixel_levels(c.likelihood, c.x_shape, "pixelcnn")
        super().__init__(c.x_shape, 0)
        self.net = PixelCNN(c.pixel_layers, c.pixel_channels, c.kernel, self.levels,
                            dropout=c.dropout)
        self.anchor: torch.Tensor
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def eval_max_samples(self) -> int:
        return self.net.eval_max_samples(self.x_shape[1:])

    def inference_parameters(self) -> list:
        return []  # no inference network

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x), ``[B]``, for x ``[B, 1, H, W]`` in [0, 1]."""
        return self.net.log_prob(x if self.levels == 2 else torch.round(x * (self.levels - 1)))

    def posterior(self, x: torch.Tensor) -> Independent:
        return _empty((len(x),), self.anchor)

    @property
    def prior(self) -> Independent:
        return _empty((), self.anchor)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.log_prob(x).expand(z.shape[0], -1)  # one pass, whatever K

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.sample(len(z), self.x_shape[1:]) / (self.levels - 1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return x  # nothing is encoded: the data itself
