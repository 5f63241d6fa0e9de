"""PixelVAE (Gulrajani et al. 2016) and a standalone PixelCNN density model, both giving the
``log_weights`` contract so that the same bounds, estimators and K=5000 evaluation apply.

PixelVAE: q(z|x) = N(mu(x), sigma(x)^2) from a convolutional encoder; p(z) = N(0, I);
p(x|z) = prod_i p(x_i | x_<i, z), a gated PixelCNN conditioned on a feature map decoded from z.
``pixel_layers = 0`` gives a factorized (conditionally independent) decoder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.distributions import Normal

from vaelab.models.layers import MIN_STD
from vaelab.models.log_weights import LogWeights
from vaelab.models.pixelcnn import PixelCNN
from vaelab.models.single_latent import SingleLatentModel


@dataclass
class PixelVAEConfig:
    image_shape: tuple[int, int] = (28, 28)
    latent: int = 32
    pixel_layers: int = 4
    channels: int = 32        # PixelCNN channels
    kernel: int = 5
    cond_channels: int = 16   # decoder feature map fed to every PixelCNN layer
    enc_channels: int = 32
    levels: int = 2


def conv_encoder(c: int, out: int, shape: tuple[int, int]) -> nn.Sequential:
    h, w = shape
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1), nn.ELU(), nn.Conv2d(c, c, 4, 2, 1), nn.ELU(),
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


class PixelVAE(SingleLatentModel):
    def __init__(self, config: PixelVAEConfig) -> None:
        super().__init__()
        c = self.config = config
        self.latent = c.latent
        h, w = c.image_shape
        if h % 4 or w % 4:
            raise ValueError(f"PixelVAE needs image sides divisible by 4, got {c.image_shape}")
        self.encoder = conv_encoder(c.enc_channels, 2 * c.latent, c.image_shape)
        self.decoder = nn.ModuleDict({
            "features": ConvDecoder(c.latent, c.enc_channels, c.cond_channels, c.image_shape),
            "pixelcnn": PixelCNN(c.pixel_layers, c.channels, c.kernel, c.levels,
                                 cond_channels=c.cond_channels)})

    @property
    def x_dim(self) -> int:
        return self.config.image_shape[0] * self.config.image_shape[1]

    @property
    def eval_max_samples(self) -> int:
        """Sample-example products per evaluation pass (each one is a PixelCNN forward)."""
        return self.decoder["pixelcnn"].eval_max_samples(self.config.image_shape)

    def _img(self, x: torch.Tensor) -> torch.Tensor:
        """[B, D] in [0, 1] -> [B, 1, H, W] pixel values (0/1, or grey levels 0..255)."""
        x = x.view(-1, 1, *self.config.image_shape)
        return x if self.config.levels == 2 else torch.round(x * (self.config.levels - 1))

    def encode(self, x: torch.Tensor) -> Normal:
        mu, raw = self.encoder(self._img(x)).chunk(2, -1)
        return Normal(mu, nn.functional.softplus(raw) + MIN_STD, validate_args=False)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x ``[B, D]`` and z ``[K, B, d]`` -> ``[K, B]``."""
        K, B = z.shape[:2]
        feats = self.decoder["features"](z.reshape(K * B, -1))
        xi = self._img(x).repeat(K, 1, 1, 1)
        return self.decoder["pixelcnn"].log_prob(xi, cond_map=feats).view(K, B)

    @torch.no_grad()
    def sample(self, n: int, z: torch.Tensor | None = None) -> torch.Tensor:
        z = self.prior((n,)).sample() if z is None else z
        feats = self.decoder["features"](z)
        x = self.decoder["pixelcnn"].sample(len(z), self.config.image_shape, cond_map=feats)
        return x.flatten(1) / (self.config.levels - 1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """A sample of p(x | z = mu(x)): with a PixelCNN decoder, reconstructions are samples."""
        return self.sample(len(x), self.encode(x).loc)

    @torch.no_grad()
    def init_output_bias(self, mean_x: torch.Tensor) -> None:
        pass

    def config_dict(self) -> dict:
        return {"kind": "pixelvae", **asdict(self.config)}


class PixelCNNDensity(nn.Module):
    """A PixelCNN alone: exact log p(x), exposed as log-weights with no latent (log w = log p(x),
    so every bound equals the exact log-likelihood)."""

    def __init__(self, image_shape=(28, 28), n_layers: int = 8, channels: int = 64,
                 kernel: int = 5, levels: int = 2) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = PixelCNN(n_layers, channels, kernel, levels)
        self.args = dict(image_shape=list(image_shape), n_layers=n_layers, channels=channels,
                         kernel=kernel, levels=levels)
        self.n_layers = 0

    @property
    def eval_max_samples(self) -> int:
        return self.net.eval_max_samples(self.image_shape)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x), ``[B]``, for x ``[B, D]`` in [0, 1]."""
        xi = x.view(-1, 1, *self.image_shape)
        if self.net.levels > 2:
            xi = torch.round(xi * (self.net.levels - 1))
        return self.net.log_prob(xi)

    def log_weights(self, x: torch.Tensor, K: int = 1, **_) -> LogWeights:
        lp = self.log_prob(x)
        zero = torch.zeros_like(lp)
        return LogWeights(lp.expand(K, -1), zero.expand(K, -1), zero.expand(K, -1), [], None)

    def analytic_kl(self, x):
        return None

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.net.sample(n, self.image_shape).flatten(1) / (self.net.levels - 1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def init_output_bias(self, mean_x) -> None:
        pass

    def config_dict(self) -> dict:
        return {"kind": "pixelcnn", **self.args}
