"""Sigmoid belief networks (Neal 1992) with a matching inference network, the discrete-latent
models of NVIL (Mnih & Gregor 2014), VIMCO (Mnih & Rezende 2016) and REBAR (Tucker et al. 2017).

p(h_L) = Bernoulli(sigmoid(b)), p(h_{l-1} | h_l) = Bernoulli(sigmoid(f_l(h_l))), p(x | h_1) =
Bernoulli(sigmoid(f_0(h_1))); q(h_1 | x), q(h_{l+1} | h_l) alike, bottom-up. Each f is linear
(``sbn_hidden = 0``: the "linear" SBN) or two tanh layers of ``sbn_hidden`` units (the
"nonlinear" SBN of the REBAR paper). z = [h_1, ..., h_L] is one flat binary vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.distributions import Bernoulli, Independent

from vaelab.distributions import BernoulliChain
from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, Model
from vaelab.models.layers import mlp
from vaelab.models.registry import MODELS
from vaelab.registry import option


@dataclass
class SBNConfig:
    x_shape: tuple = option((1, 28, 28), "shape of one example (C, H, W)", cli=False)
    likelihood: str = option("bernoulli", "observation model (Bernoulli: binary data)",
                             cli=False)
    bernoulli_layers: int = option(1, "stochastic layers of Bernoulli units", choices=(1, 2, 3))
    units: int = option(200, "Bernoulli units per stochastic layer")
    sbn_hidden: int = option(0, "units of the two tanh layers between stochastic layers (0: "
                             "linear connections, the linear SBN)")

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if self.likelihood != "bernoulli":
            raise ConfigError("a sigmoid belief network models binary data: use a Bernoulli "
                              "likelihood (binarized data)")
        if self.bernoulli_layers not in (1, 2, 3) or self.units < 1 or self.sbn_hidden < 0:
            raise ConfigError("SBN: --bernoulli-layers must be 1 to 3, --units >= 1 and "
                              "--sbn-hidden >= 0")


@MODELS.register("sbn", SBNConfig, help="sigmoid belief network: 1 to 3 layers of Bernoulli "
                 "latents, linear or nonlinear (train with a score-function or relaxed "
                 "estimator)")
class SBN(Model):
    def __init__(self, config: SBNConfig | None = None) -> None:
        c = self.config = config or SBNConfig()
        sizes = [c.units] * c.bernoulli_layers
        super().__init__(c.x_shape, sizes, Capabilities(
            latent="discrete", discrete_data=True, simulates_data=True))
        hidden = [c.sbn_hidden] * 2 if c.sbn_hidden else []
        x_dim = math.prod(c.x_shape)
        dims = [x_dim, *sizes]
        self.encoder = nn.ModuleList(mlp(dims[i], hidden, dims[i + 1])
                                     for i in range(len(sizes)))
        # decoder[0]: h_1 -> logits of x; decoder[i]: h_{i+1} -> logits of h_i
        self.decoder = nn.ModuleList(mlp(dims[i + 1], hidden, dims[i])
                                     for i in range(len(sizes)))
        self.prior_logits = nn.Parameter(torch.zeros(sizes[-1]))

    def posterior(self, x: torch.Tensor) -> BernoulliChain:
        return BernoulliChain(self.encoder[0](x.flatten(1)), list(self.encoder[1:]),
                              list(self.latent_sizes), "down")

    @property
    def prior(self) -> BernoulliChain:
        return BernoulliChain(self.prior_logits, list(self.decoder[1:])[::-1],
                              list(self.latent_sizes), "up")

    def _x_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder[0](z[..., : self.latent_sizes[0]])

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return Independent(Bernoulli(logits=self._x_logits(z), validate_args=False), 1,
                           validate_args=False).log_prob(x.flatten(1))

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._x_logits(z)).view(-1, *self.x_shape)

    @torch.no_grad()
    def sample_data(self, z: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(self.generate(z))

    def latent_support_size(self) -> int:
        return 2 ** self.latent_dim

    @torch.no_grad()
    def init_from_data(self, mean_x: torch.Tensor) -> None:
        m = mean_x.reshape(-1).clamp(1e-3, 1 - 1e-3).to(self.prior_logits)
        last = cast(nn.Linear, cast(nn.Sequential, self.decoder[0])[-1])
        last.bias.copy_(torch.log(m) - torch.log1p(-m))
