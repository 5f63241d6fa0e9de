"""Gaussian VAEs with one or two stochastic layers on MLPs (Burda et al. 2015 architectures).

p(z_L) p(z_{L-1}|z_L) ... p(x|z_1) with p(z_L) = N(0, I); q(z_1|x) q(z_2|z_1) ... each a
diagonal Gaussian, sampled as z = mu + sigma * eps (one layer: also a full-covariance Gaussian or
an inverse autoregressive flow). The latent vector is [z_1, ..., z_L]. Any
image shape and any likelihood of ``vaelab.models.likelihoods``; the objective (ELBO or L_K)
is the estimator's business, not the model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.distributions import Independent, Normal

from vaelab.distributions import GaussianChain
from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, DecodedModel
from vaelab.models.iaf import IAFLayer
from vaelab.models.layers import (
    ACTIVATIONS,
    FullGaussianLayer,
    GaussianLayer,
    StandardNormal,
    mlp,
)
from vaelab.models.likelihoods import LIKELIHOODS, get_likelihood
from vaelab.models.priors import PRIORS, MixtureOfGaussiansPrior, VampPrior
from vaelab.models.registry import MODELS
from vaelab.registry import option

# Burda et al. (2015), appendix: latent sizes, and hidden sizes per stochastic layer.
POSTERIORS = ("diagonal", "full", "iaf")
BURDA = {1: ([50], [[200, 200]]), 2: ([100, 50], [[200, 200], [100, 100]])}


@dataclass
class VAEConfig:
    x_shape: tuple = option((1, 28, 28), "shape of one example (C, H, W)", cli=False)
    likelihood: str = option("bernoulli", "observation model", tuple(LIKELIHOODS), cli=False)
    layers: int = option(1, "stochastic layers, in Burda et al.'s architectures (1: "
                         "D-200-200-50; 2: D-200-200-100-100-100-50)", choices=(1, 2))
    hidden: int = option(200, "units in each deterministic layer of the first stochastic "
                         "layer; a second stochastic layer's have half (Burda et al.: 200, 100)")
    latent: int = option(50, "units in the top stochastic layer (Burda et al.: 50; a second "
                         "layer's first has 100)")
    activation: str = option("tanh", "nonlinearity of the MLPs", tuple(ACTIVATIONS))
    posterior: str = option("diagonal", "the encoder's family: diagonal (mean field), full "
                            "covariance (a Cholesky factor, the lecture's Sigma^(1/2)) or iaf (an "
                            "inverse autoregressive flow over a diagonal Gaussian)",
                            choices=POSTERIORS)
    flow_steps: int = option(2, "IAF steps (with --posterior iaf)")
    prior: str = option("standard", "p(z): standard (N(0, I)), mog (a learned mixture of "
                        "Gaussians) or vamp (the VampPrior, Tomczak & Welling 2018)",
                        choices=PRIORS)
    components: int = option(500, "mixture components (mog) or pseudo-inputs (vamp)")

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if self.layers not in BURDA:
            raise ConfigError(f"--layers must be 1 or 2 (Burda et al.), not {self.layers}")
        # runs written before 0.3 recorded 0 for Burda et al.'s sizes
        self.hidden, self.latent = self.hidden or 200, self.latent or 50
        for name in ("hidden", "latent"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 100_000:
                raise ConfigError(f"--{name} must be an integer from 1 to 100000, got {v}")
        get_likelihood(self.likelihood)
        if self.posterior not in POSTERIORS:
            raise ConfigError(f"--posterior must be one of {', '.join(POSTERIORS)}, not "
                              f"{self.posterior!r}")
        if self.flow_steps < 1:
            raise ConfigError(f"--flow-steps must be >= 1, not {self.flow_steps}")
        if self.prior not in PRIORS or self.components < 1:
            raise ConfigError(f"--prior must be one of {', '.join(PRIORS)} and --components "
                              ">= 1")
        if self.prior != "standard" and (self.layers != 1 or self.posterior != "diagonal"):
            raise ConfigError("--prior mog|vamp is for one stochastic layer with a diagonal "
                              "posterior")
        if self.posterior != "diagonal" and self.layers != 1:
            raise ConfigError(f"--posterior {self.posterior} is for one stochastic layer (a "
                              "hierarchy's posterior is a chain of diagonal Gaussians)")

    def architecture(self) -> tuple[list[int], list[list[int]]]:
        """Latent sizes per stochastic layer and the hidden sizes between layers."""
        latent = [*BURDA[self.layers][0][:-1], self.latent]
        hidden = [[self.hidden] * 2, [max(1, self.hidden // 2)] * 2][: self.layers]
        return latent, hidden


@MODELS.register("vae", VAEConfig, help="MLP VAE with 1 or 2 stochastic layers (Burda et al. "
                 "2015); train with --objective elbo or iwae")
class VAE(DecodedModel):
    """A VAE/IWAE model; the objective (ELBO or L_K) is chosen by the estimator, not the model."""

    def __init__(self, config: VAEConfig | None = None) -> None:
        c = self.config = config or VAEConfig()
        latent, hidden = c.architecture()
        lik = get_likelihood(c.likelihood)
        one, diagonal = len(latent) == 1, c.posterior == "diagonal"
        standard = one and c.prior == "standard"
        super().__init__(c.x_shape, latent, Capabilities(
            gaussian_posterior=diagonal, standard_normal_prior=standard,
            analytic_kl=standard and diagonal,
            discrete_data=lik.discrete, simulates_data=True))
        self.likelihood = lik
        dims = [math.prod(c.x_shape), *latent]
        if c.posterior == "iaf":
            self.encoder = nn.ModuleList([IAFLayer(dims[0], hidden[0], dims[1], c.activation,
                                                   c.flow_steps)])
        else:
            layer = GaussianLayer if diagonal else FullGaussianLayer
            self.encoder = nn.ModuleList(layer(dims[i], hidden[i], dims[i + 1], c.activation)
                                         for i in range(len(latent)))
        # decoder[0] maps z_1 -> parameters of p(x|z_1); decoder[i] maps z_{i+1} -> p(z_i|z_{i+1})
        dec: list[nn.Module] = [mlp(dims[1], hidden[0][::-1], lik.n_params * dims[0],
                                    c.activation)]
        dec += [GaussianLayer(dims[i + 1], hidden[i][::-1], dims[i], c.activation)
                for i in range(1, len(latent))]
        self.decoder = nn.ModuleList(dec)
        self.standard_normal = StandardNormal(latent[-1])  # p(z_L)
        self.learned_prior = (MixtureOfGaussiansPrior(latent[0], c.components) if c.prior == "mog"
                              else VampPrior(c.x_shape, c.components) if c.prior == "vamp"
                              else None)

    @property
    def n_layers(self) -> int:
        return len(self.latent_sizes)

    def posterior(self, x: torch.Tensor):
        first = self.encoder[0](x.flatten(1))
        if not isinstance(first, Normal):  # full covariance, IAF: already over [D]
            return first
        if self.n_layers == 1:
            return Independent(first, 1, validate_args=False)
        return GaussianChain(first, list(self.encoder[1:]), list(self.latent_sizes), "down")

    @property
    def prior(self):
        if isinstance(self.learned_prior, VampPrior):
            return self.learned_prior(self.encoder[0])
        if self.learned_prior is not None:
            return self.learned_prior()
        top = self.standard_normal()
        if self.n_layers == 1:
            return top
        return GaussianChain(top.base_dist, list(self.decoder[1:])[::-1],
                             list(self.latent_sizes), "up")

    def decode(self, z: torch.Tensor):
        """p(x | z_1) for z ``[..., D]`` (only the first layer z_1 reaches x): a distribution over
        ``[..., *x_shape]``."""
        z1 = z[..., : self.latent_sizes[0]]
        params = self.decoder[0](z1).unflatten(-1, (self.likelihood.n_params, *self.x_shape))
        return self.likelihood.dist(params, len(self.x_shape))

    @torch.no_grad()
    def init_from_data(self, mean_x: torch.Tensor) -> None:
        """Burda et al.: start the output bias at the data mean (for Bernoulli: its logit)."""
        last = cast(nn.Linear, cast(nn.Sequential, self.decoder[0])[-1]).bias
        bias = self.likelihood.output_bias(mean_x.to(last).reshape(self.x_shape))
        last.copy_(bias.flatten())
        if isinstance(self.learned_prior, VampPrior):
            self.learned_prior.init_from_data(mean_x.reshape(self.x_shape))
