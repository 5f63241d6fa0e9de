"""VQ-VAE (van den Oord et al. 2017) and VQ-VAE-2 (Razavi et al. 2019) for 28x28 images.

The posterior is deterministic (one-hot codes), so with a prior p(c) over code maps
    log p(x) >= log p(x | z_q(c)) + log p(c)      (the KL term reduces to -log p(c)).
During training p(c) is uniform (log p(c) = -n log K); a PixelCNN prior fitted afterwards
(``vaelab prior``) tightens the bound. ``log_weights`` follows the library's contract with K = 1
draw (the posterior has no randomness) and reports the VQ losses as ``penalty``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.distributions import Bernoulli, Categorical

from vaelab.models.log_weights import LogWeights
from vaelab.models.quantizer import VectorQuantizer


@dataclass
class VQConfig:
    image_shape: tuple[int, int] = (28, 28)
    num_codes: int = 128
    code_dim: int = 32
    channels: int = 64
    commitment: float = 0.25
    ema: bool = False
    levels: int = 2           # 2: Bernoulli pixels; 256: 256-way softmax over grey levels
    hierarchical: bool = False  # VQ-VAE-2: top codes at 7x7, bottom codes at 14x14


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(c, c, 1))

    def forward(self, x):
        return x + self.net(x)


def _down(cin: int, c: int, out: int) -> nn.Sequential:  # stride-2 halving
    return nn.Sequential(nn.Conv2d(cin, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                         ResBlock(c), nn.ReLU(), nn.Conv2d(c, out, 1))


def _up(cin: int, c: int, out: int) -> nn.Sequential:  # stride-2 doubling
    return nn.Sequential(nn.Conv2d(cin, c, 3, padding=1), ResBlock(c), nn.ReLU(),
                         nn.ConvTranspose2d(c, out, 4, 2, 1))


class VQVAE(nn.Module):
    n_layers = 0  # no Gaussian latent: the information diagnostics do not apply

    def __init__(self, config: VQConfig) -> None:
        super().__init__()
        c = self.config = config
        out = 1 if c.levels == 2 else c.levels
        C, D = c.channels, c.code_dim
        if c.hierarchical:
            self.enc_bottom = nn.Sequential(_down(1, C, C))                       # 28 -> 14
            self.enc_top = _down(C, C, D)                                         # 14 -> 7
            self.top_up = nn.ConvTranspose2d(D, D, 4, 2, 1)                       # 7 -> 14
            self.pre_bottom = nn.Conv2d(C + D, D, 1)
            self.q_top = VectorQuantizer(c.num_codes, D, c.ema)
            self.q_bottom = VectorQuantizer(c.num_codes, D, c.ema)
            self.dec = _up(2 * D, C, out)                                         # 14 -> 28
        else:
            self.enc = nn.Sequential(_down(1, C, C), nn.ReLU(), _down(C, C, D))   # 28 -> 7
            self.q = VectorQuantizer(c.num_codes, D, c.ema)
            self.dec = nn.Sequential(_up(D, C, C), nn.ReLU(), _up(C, C, out))     # 7 -> 28
        # parameter groups for diagnostics
        self.encoder = nn.ModuleList(m for n, m in self.named_children()
                                     if n.startswith(("enc", "pre", "top_up")))
        self.decoder = nn.ModuleList([self.dec])

    def quantizers(self) -> list[VectorQuantizer]:
        return [self.q_top, self.q_bottom] if self.config.hierarchical else [self.q]

    def _img(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, 1, *self.config.image_shape)
        return x if self.config.levels == 2 else torch.round(x * (self.config.levels - 1))

    def _net_in(self, xi: torch.Tensor) -> torch.Tensor:
        return xi if self.config.levels == 2 else xi / (self.config.levels - 1) * 2 - 1

    def encode(self, x: torch.Tensor) -> list:
        """Quantize x: one :class:`Quantized` per level (top first for VQ-VAE-2)."""
        h = self._net_in(self._img(x))
        if not self.config.hierarchical:
            return [self.q(self.enc(h))]
        hb = self.enc_bottom(h)
        qt = self.q_top(self.enc_top(hb))
        qb = self.q_bottom(self.pre_bottom(torch.cat([hb, self.top_up(qt.z_q)], 1)))
        return [qt, qb]

    def decode_codes(self, zs: list[torch.Tensor]):
        """p(x | z_q) from quantized vectors (top first)."""
        h = zs[0] if len(zs) == 1 else torch.cat([self.top_up(zs[0]), zs[1]], 1)
        logits = self.dec(h)
        if self.config.levels == 2:
            return Bernoulli(logits=logits[:, 0], validate_args=False)
        return Categorical(logits=logits.permute(0, 2, 3, 1), validate_args=False)

    def decode_indices(self, indices: list[torch.Tensor]):
        return self.decode_codes([q.lookup(i) for q, i in zip(self.quantizers(), indices)])

    def code_shapes(self) -> list[tuple[int, int]]:
        h, w = self.config.image_shape
        return [(h // 4, w // 4), (h // 2, w // 2)] if self.config.hierarchical else \
            [(h // 4, w // 4)]

    def log_px(self, x: torch.Tensor, dist) -> torch.Tensor:
        xi = self._img(x)[:, 0]
        return dist.log_prob(xi if self.config.levels == 2 else xi.long()).flatten(1).sum(1)

    def log_weights(self, x: torch.Tensor, K: int = 1, **_) -> LogWeights:
        qs = self.encode(x)
        log_px_z = self.log_px(x, self.decode_codes([q.z_q for q in qs]))
        n_codes = sum(h * w for h, w in self.code_shapes())
        log_pz = torch.full_like(log_px_z, -n_codes * math.log(self.config.num_codes))
        penalty = sum(q.codebook + self.config.commitment * q.commitment for q in qs)
        zero = torch.zeros_like(log_px_z)
        return LogWeights(log_px_z.expand(K, -1), log_pz.expand(K, -1), zero.expand(K, -1),
                          [], None, penalty)

    def analytic_kl(self, x):
        return None

    def diagnostics(self) -> dict:
        return {f"perplexity_{i}": float(q.perplexity) for i, q in enumerate(self.quantizers())}

    def _mean(self, d) -> torch.Tensor:
        """Decoder mean image in [0, 1], ``[B, D]``."""
        if self.config.levels == 2:
            return d.mean.flatten(1)
        levels = torch.arange(self.config.levels, device=d.probs.device, dtype=torch.float32)
        return (d.probs * levels).sum(-1).flatten(1) / (self.config.levels - 1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self._mean(self.decode_codes([q.z_q for q in self.encode(x)]))

    @torch.no_grad()
    def sample(self, n: int, prior=None, labels=None) -> torch.Tensor:
        """Codes from ``prior`` (a :class:`CodePrior`), or uniform without one; decoder means."""
        dev = next(self.parameters()).device
        if prior is not None:
            idx = prior.sample(n, labels)
        else:
            idx = [torch.randint(self.config.num_codes, (n, *s), device=dev)
                   for s in self.code_shapes()]
        return self._mean(self.decode_indices(idx))

    def init_output_bias(self, mean_x) -> None:
        pass

    def config_dict(self) -> dict:
        return {"kind": "vqvae2" if self.config.hierarchical else "vqvae", **asdict(self.config)}
