"""VQ-VAE (van den Oord et al. 2017) and VQ-VAE-2 (Razavi et al. 2019) through the protocol.

The posterior is a point mass at the quantized code vectors (one-hot q over codes, log q = 0);
the latent z is those vectors, flattened (top level first for VQ-VAE-2). With a prior p(c) over
code maps::

    log p(x) >= log p(x | z_q(c)) + log p(c)      (the KL term reduces to -log p(c))

During training p(c) is uniform (log p(c) = -n log K for every code map); a PixelCNN prior
fitted afterwards (``vaelab prior``) tightens the bound. The codebook and commitment losses are
the model's declared auxiliary loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.distributions import Distribution, constraints

from vaelab.distributions import PointMass
from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, Model
from vaelab.models.likelihoods import get_likelihood
from vaelab.models.quantizer import Quantized, VectorQuantizer
from vaelab.models.registry import MODELS, register_variant
from vaelab.registry import option


@dataclass
class VQConfig:
    x_shape: tuple = option((1, 28, 28), "shape of one image (C, H, W), sides divisible by 4",
                            cli=False)
    likelihood: str = option("bernoulli", "bernoulli or categorical values",
                             ("bernoulli", "categorical"), cli=False)
    num_codes: int = option(128, "codebook size K (codes per level)")
    code_dim: int = option(32, "dimension of each code vector")
    channels: int = option(64, "channels of the encoder and decoder convolutions")
    commitment: float = option(0.25, "weight of the commitment loss (beta in van den Oord "
                               "et al.)")
    ema: bool = option(False, "update the codebook by exponential moving averages instead of "
                       "the codebook loss")
    hierarchical: bool = option(False, "VQ-VAE-2: top codes at H/4 x W/4, bottom at H/2 x W/2",
                                cli=False)

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if len(self.x_shape) != 3 or self.x_shape[1] % 4 or self.x_shape[2] % 4:
            raise ConfigError(f"VQ-VAE needs images (C, H, W) with sides divisible by 4, got "
                              f"{self.x_shape}")
        if self.likelihood not in ("bernoulli", "categorical"):
            raise ConfigError(f"VQ-VAE decodes Bernoulli or 256-way categorical values, not "
                              f"--likelihood {self.likelihood}")
        if min(self.num_codes, self.code_dim, self.channels) < 1 or self.commitment < 0:
            raise ConfigError("VQ-VAE: --num-codes, --code-dim and --channels must be >= 1, "
                              "--commitment >= 0")


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


class Quantization(PointMass):
    """q(z|x) of a VQ-VAE: a point mass at the (straight-through) quantized vectors, which keeps
    the per-level :class:`Quantized` records for the auxiliary losses."""

    def __init__(self, levels: list[Quantized]) -> None:
        self.levels = levels
        super().__init__(torch.cat([q.z_q.flatten(1) for q in levels], 1))


class UniformCodes(Distribution):
    """The training prior: every code map equally likely, log p(c) = -n log K. ``log_prob``
    takes the code map as its vectors ``[..., D]`` and does not check that they lie on the
    codebook (the posterior only ever puts them there)."""

    arg_constraints: dict = {}
    support = constraints.real

    def __init__(self, model: VQVAE) -> None:
        self.model = model
        super().__init__(torch.Size(), torch.Size([model.latent_dim]), validate_args=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        n = sum(h * w for h, w in self.model.code_shapes())
        return z.new_full(z.shape[:-1], -n * math.log(self.model.config.num_codes))

    def sample(self, sample_shape=()) -> torch.Tensor:
        n = int(torch.Size(sample_shape).numel())
        dev = self.model.anchor.device
        idx = [torch.randint(self.model.config.num_codes, (n, *s), device=dev)
               for s in self.model.code_shapes()]
        z = self.model.codes_to_latent(idx)
        return z.view(*sample_shape, -1)


class FittedCodes(UniformCodes):
    """A prior over the code maps fitted after training (a :class:`CodePrior`, `vaelab prior`):
    log p(c) is its log-likelihood of the code indices under z, samples are its code maps."""

    def __init__(self, model: VQVAE, code_prior) -> None:
        super().__init__(model)
        self.code_prior = code_prior

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.reshape(-1, z.shape[-1])
        indices = [q.nearest(m.permute(0, 2, 3, 1).reshape(-1, m.shape[1])).view(len(flat), *hw)
                   for q, m, hw in zip(self.model.quantizers(), self.model._maps(flat),
                                       self.model.code_shapes())]
        return self.code_prior.log_prob(indices).view(z.shape[:-1])

    def sample(self, sample_shape=()) -> torch.Tensor:
        n = int(torch.Size(sample_shape).numel())
        return self.model.codes_to_latent(self.code_prior.sample(n)).view(*sample_shape, -1)


@MODELS.register("vqvae", VQConfig, help="VQ-VAE (van den Oord et al. 2017): discrete codes "
                 "at H/4 x W/4, straight-through gradients")
class VQVAE(Model):
    def __init__(self, config: VQConfig | None = None) -> None:
        c = self.config = config or VQConfig()
        lik = self.likelihood = get_likelihood(c.likelihood)
        Cx, H, W = c.x_shape
        shapes = [(H // 4, W // 4), (H // 2, W // 2)] if c.hierarchical else [(H // 4, W // 4)]
        super().__init__(c.x_shape, sum(c.code_dim * h * w for h, w in shapes), Capabilities(
            latent="point_mass", auxiliary_loss=True, discrete_data=True, code_prior=True))
        self.__dict__["_code_prior"] = None  # not a submodule: the run's checkpoint holds none
        out = lik.n_params * Cx
        C, D = c.channels, c.code_dim
        if c.hierarchical:
            self.enc_bottom = nn.Sequential(_down(Cx, C, C))                      # H -> H/2
            self.enc_top = _down(C, C, D)                                         # -> H/4
            self.top_up = nn.ConvTranspose2d(D, D, 4, 2, 1)                       # H/4 -> H/2
            self.pre_bottom = nn.Conv2d(C + D, D, 1)
            self.q_top = VectorQuantizer(c.num_codes, D, c.ema)
            self.q_bottom = VectorQuantizer(c.num_codes, D, c.ema)
            self.dec = _up(2 * D, C, out)                                         # H/2 -> H
        else:
            self.enc = nn.Sequential(_down(Cx, C, C), nn.ReLU(), _down(C, C, D))  # H -> H/4
            self.q = VectorQuantizer(c.num_codes, D, c.ema)
            self.dec = nn.Sequential(_up(D, C, C), nn.ReLU(), _up(C, C, out))     # H/4 -> H
        self.anchor: torch.Tensor
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def inference_parameters(self) -> list[nn.Parameter]:
        names = ("enc", "pre_bottom")
        return [p for n, p in self.named_parameters() if n.startswith(names)]

    def quantizers(self) -> list[VectorQuantizer]:
        return [self.q_top, self.q_bottom] if self.config.hierarchical else [self.q]

    def code_shapes(self) -> list[tuple[int, int]]:
        H, W = self.x_shape[1:]
        return [(H // 4, W // 4), (H // 2, W // 2)] if self.config.hierarchical else \
            [(H // 4, W // 4)]

    def quantize(self, x: torch.Tensor) -> list[Quantized]:
        """Quantize x ``[B, C, H, W]``: one :class:`Quantized` per level (top first)."""
        h = x if self.likelihood.name == "bernoulli" else 2 * x - 1
        if not self.config.hierarchical:
            return [self.q(self.enc(h))]
        hb = self.enc_bottom(h)
        qt = self.q_top(self.enc_top(hb))
        qb = self.q_bottom(self.pre_bottom(torch.cat([hb, self.top_up(qt.z_q)], 1)))
        return [qt, qb]

    def decode_codes(self, zs: list[torch.Tensor]):
        """p(x | z_q) from quantized vector maps ``[B, D, h, w]`` (top first)."""
        h = zs[0] if len(zs) == 1 else torch.cat([self.top_up(zs[0]), zs[1]], 1)
        params = self.dec(h).unflatten(1, (self.likelihood.n_params, self.x_shape[0]))
        return self.likelihood.dist(params, 3)

    def codes_to_latent(self, indices: list[torch.Tensor]) -> torch.Tensor:
        """Code indices per level ``[B, h, w]`` -> the flat latent ``[B, D]``."""
        return torch.cat([q.lookup(i).flatten(1) for q, i in zip(self.quantizers(), indices)], 1)

    def _maps(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Flat latents ``[N, D]`` -> vector maps per level ``[N, code_dim, h, w]``."""
        D = self.config.code_dim
        sizes = [D * h * w for h, w in self.code_shapes()]
        return [part.reshape(len(z), D, h, w)
                for part, (h, w) in zip(z.split(sizes, -1), self.code_shapes())]

    # ---- the protocol -----------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> Quantization:
        return Quantization(self.quantize(x))

    @property
    def prior(self) -> UniformCodes:
        """Uniform over the code maps (training), or the prior fitted since (``set_code_prior``)."""
        fitted = self.__dict__["_code_prior"]
        return UniformCodes(self) if fitted is None else FittedCodes(self, fitted)

    def set_code_prior(self, code_prior) -> None:
        """Make a fitted :class:`CodePrior` (None: the uniform one again) the model's prior."""
        self.__dict__["_code_prior"] = code_prior

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        K, B = z.shape[:2]
        dist = self.decode_codes(self._maps(z.reshape(K * B, -1)))
        return dist.log_prob(x.repeat(K, 1, 1, 1)).view(K, B)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_codes(self._maps(z)).mean.clamp(0, 1)

    def auxiliary_loss(self, q: Distribution) -> torch.Tensor:
        """Codebook loss (zero with EMA updates) + commitment * commitment loss, ``[B]``."""
        levels = cast(Quantization, q).levels  # the q of this model's posterior
        return cast(torch.Tensor, sum(lv.codebook + self.config.commitment * lv.commitment
                                      for lv in levels))

    def training_diagnostics(self) -> dict:
        """Per level i: the codebook's perplexity and dead codes over the epoch just trained."""
        out = {}
        for i, q in enumerate(self.quantizers()):
            u = q.epoch_usage()
            out[f"perplexity_{i}"], out[f"dead_codes_{i}"] = u["perplexity"], u["dead_codes"]
        return out



register_variant("vqvae2", "vqvae", help="VQ-VAE-2 (Razavi et al. 2019): top and bottom code "
                 "maps", hierarchical=True)
