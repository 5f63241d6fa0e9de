"""A VAE with categorical latents (Jang et al. 2017): n independent variables of m categories,
one-hot, with a uniform prior; MLP encoder and decoder (x - 512 - 256 - n*m and back)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch

from vaelab.distributions import OneHotGroups
from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, DecodedModel
from vaelab.models.layers import mlp
from vaelab.models.likelihoods import LIKELIHOODS, get_likelihood
from vaelab.models.registry import MODELS
from vaelab.registry import option

HIDDEN = [512, 256]


@dataclass
class CategoricalVAEConfig:
    x_shape: tuple = option((1, 28, 28), "shape of one example (C, H, W)", cli=False)
    likelihood: str = option("bernoulli", "observation model", tuple(LIKELIHOODS), cli=False)
    variables: int = option(20, "categorical latent variables n")
    categories: int = option(10, "categories m of each variable")

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if self.variables < 1 or self.categories < 2:
            raise ConfigError("categorical VAE: --variables must be >= 1 and --categories >= 2")
        get_likelihood(self.likelihood)


@MODELS.register("categorical", CategoricalVAEConfig,
                 help="VAE with n categorical latents of m categories (Jang et al. 2017; train "
                      "with a score-function or relaxed estimator)")
class CategoricalVAE(DecodedModel):
    def __init__(self, config: CategoricalVAEConfig | None = None) -> None:
        c = self.config = config or CategoricalVAEConfig()
        lik = get_likelihood(c.likelihood)
        D = c.variables * c.categories
        super().__init__(c.x_shape, D, Capabilities(
            latent="discrete", discrete_data=lik.discrete, simulates_data=True))
        self.likelihood = lik
        x_dim = math.prod(c.x_shape)
        self.encoder = mlp(x_dim, HIDDEN, D, "relu")
        self.decoder = mlp(D, HIDDEN[::-1], lik.n_params * x_dim, "relu")
        self.uniform: torch.Tensor
        self.register_buffer("uniform", torch.zeros(c.variables, c.categories),
                             persistent=False)

    def posterior(self, x: torch.Tensor) -> OneHotGroups:
        c = self.config
        return OneHotGroups(self.encoder(x.flatten(1)).unflatten(-1, (c.variables,
                                                                       c.categories)))

    @property
    def prior(self) -> OneHotGroups:
        return OneHotGroups(self.uniform)

    def decode(self, z: torch.Tensor):
        params = self.decoder(z).unflatten(-1, (self.likelihood.n_params, *self.x_shape))
        return self.likelihood.dist(params, len(self.x_shape))


    def latent_support_size(self) -> int:
        return self.config.categories ** self.config.variables

    @torch.no_grad()
    def init_from_data(self, mean_x: torch.Tensor) -> None:
        last = cast(torch.nn.Linear, self.decoder[-1]).bias
        last.copy_(self.likelihood.output_bias(mean_x.to(last).reshape(self.x_shape)).flatten())
