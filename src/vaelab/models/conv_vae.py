"""A convolutional Gaussian VAE with a Bernoulli decoder (the beta-VAE architecture of Higgins
et al. 2017 / Burgess et al. 2018: stride-2 4x4 convolutions, a 256-unit layer, 10 latents)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Normal

from vaelab.models.layers import MIN_STD
from vaelab.models.single_latent import SingleLatentModel


@dataclass
class ConvVAEConfig:
    image_shape: tuple[int, int] = (64, 64)
    latent: int = 10
    channels: int = 32
    hidden: int = 256


def n_downsamples(shape: tuple[int, int]) -> int:
    """Stride-2 steps: as many as keep both sides integral, at most 4 (64 -> 4, 28 -> 7)."""
    n = 0
    while n < 4 and shape[0] % 2 ** (n + 1) == 0 and shape[1] % 2 ** (n + 1) == 0:
        n += 1
    return n


class ConvVAE(SingleLatentModel):
    def __init__(self, config: ConvVAEConfig) -> None:
        super().__init__()
        c = self.config = config
        self.latent = c.latent
        n = n_downsamples(c.image_shape)
        if n < 1:
            raise ValueError(f"image sides must be even, got {c.image_shape}")
        self.small = (c.image_shape[0] >> n, c.image_shape[1] >> n)
        ch = [1] + [c.channels * (1 if i < 2 else 2) for i in range(n)]
        flat = ch[-1] * self.small[0] * self.small[1]
        enc = []
        for a, b in zip(ch, ch[1:]):
            enc += [nn.Conv2d(a, b, 4, 2, 1), nn.ReLU()]
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, 2 * c.latent))
        dec: list[nn.Module] = []
        rev = ch[::-1]
        for i, (a, b) in enumerate(zip(rev, rev[1:])):
            dec += [nn.ConvTranspose2d(a, b, 4, 2, 1)] + ([nn.ReLU()] if i < n - 1 else [])
        self.decoder = nn.ModuleDict({
            "fc": nn.Sequential(nn.Linear(c.latent, c.hidden), nn.ReLU(), nn.Linear(c.hidden, flat),
                                nn.ReLU()),
            "up": nn.Sequential(*dec)})
        self._ch = ch[-1]

    def encode(self, x: torch.Tensor) -> Normal:
        mu, raw = self.encoder(x.view(-1, 1, *self.config.image_shape)).chunk(2, -1)
        return Normal(mu, F.softplus(raw) + MIN_STD, validate_args=False)

    def decode(self, z: torch.Tensor) -> Bernoulli:
        """p(x|z) for z ``[..., d]``: Bernoulli logits ``[..., D]``."""
        lead = z.shape[:-1]
        h = self.decoder["fc"](z.reshape(-1, self.latent)).view(-1, self._ch, *self.small)
        logits = self.decoder["up"](h).reshape(*lead, -1)
        return Bernoulli(logits=logits, validate_args=False)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z).log_prob(x).sum(-1)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.decode(self.prior((n,)).sample()).probs

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x).loc).probs

    @torch.no_grad()
    def init_output_bias(self, mean_x: torch.Tensor) -> None:
        pass

    def config_dict(self) -> dict:
        return {"kind": "betavae", **asdict(self.config)}
