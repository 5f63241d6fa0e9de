"""The MLP VAE and two-level HVAE of Tomczak & Welling (2018), "VAE with a VampPrior" (AISTATS),
with the standard prior or the VampPrior.

Every deterministic layer is gated (Dauphin et al. 2017): ``h(x) * sigmoid(g(x))`` with two
linear maps and no other nonlinearity, 300 units; every Gaussian layer has a linear mean and a
log-variance squeezed into [-6, 2] by a hard tanh; weights start He-normal. With ``levels=1``::

    q(z|x)  = N(mu(x), diag var(x))              p(x|z) = Bernoulli(decoder(z))

and with ``levels=2`` (not Burda et al.'s chain: z_1 sees x as well as z_2, and x sees both)::

    q(z_1, z_2 | x) = q(z_2 | x) q(z_1 | x, z_2)
    p(x, z_1, z_2)  = p(z_2) p(z_1 | z_2) p(x | z_1, z_2)

The latent vector is ``[z_1, z_2]`` (layer 1 first, as every hierarchy in vaelab). The top
prior p(z_2) (p(z) for one level) is N(0, I) or the VampPrior (1/C) sum_c q(z_2 | u_c) at C
learned pseudo-inputs u_c, which start at N(0.05, 0.01^2) per pixel as in the authors' code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal

from vaelab.distributions import GaussianChain
from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, DecodedModel
from vaelab.models.layers import StandardNormal
from vaelab.models.likelihoods import LIKELIHOODS, get_likelihood
from vaelab.models.priors import VampPrior
from vaelab.models.registry import MODELS
from vaelab.registry import option

GATED_PRIORS = ("standard", "vamp")
LOGVAR_RANGE = (-6.0, 2.0)  # the authors' hard tanh on every Gaussian layer's log-variance


class GatedDense(nn.Module):
    """``h(x) * sigmoid(g(x))``: a gated linear unit (Dauphin et al. 2017)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.h, self.g = nn.Linear(in_dim, out_dim), nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(x) * torch.sigmoid(self.g(x))


def gated(in_dim: int, hidden: int, depth: int) -> nn.Sequential:
    """``depth`` gated layers ``in -> hidden -> ... -> hidden``."""
    return nn.Sequential(*(GatedDense(in_dim if i == 0 else hidden, hidden)
                           for i in range(depth)))


class GaussianHead(nn.Module):
    """features -> N(mean, exp(logvar)), logvar = hardtanh(linear, -6, 2)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mean, self.logvar = nn.Linear(in_dim, out_dim), nn.Linear(in_dim, out_dim)

    def forward(self, h: torch.Tensor) -> Normal:
        logvar = F.hardtanh(self.logvar(h), *LOGVAR_RANGE)
        return Normal(self.mean(h), torch.exp(0.5 * logvar), validate_args=False)


class GatedGaussian(nn.Module):
    """in -> ``depth`` gated layers -> :class:`GaussianHead`: q(z|x), q(z_2|x), p(z_1|z_2)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, depth: int = 2) -> None:
        super().__init__()
        self.net, self.head = gated(in_dim, hidden, depth), GaussianHead(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> Normal:
        return self.head(self.net(x))


class TwoInputs(nn.Module):
    """(a, b) -> gated(a) ++ gated(b) -> one gated layer: features of two inputs joined, as in
    q(z_1 | x, z_2) and p(x | z_1, z_2). ``a`` may lack ``b``'s leading sample dimensions."""

    def __init__(self, a_dim: int, b_dim: int, hidden: int) -> None:
        super().__init__()
        self.a, self.b = GatedDense(a_dim, hidden), GatedDense(b_dim, hidden)
        self.joint = GatedDense(2 * hidden, hidden)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        hb = self.b(b)
        ha = self.a(a).expand(*hb.shape[:-1], -1)
        return self.joint(torch.cat([ha, hb], -1))


class PosteriorStep(nn.Module):
    """z_2 -> q(z_1 | x, z_2) for one batch x: the step of the posterior chain, a module so
    that STL and DReG can call it with its parameters held constant."""

    def __init__(self, features: TwoInputs, head: GaussianHead, x: torch.Tensor) -> None:
        super().__init__()
        self.features, self.head = features, head
        self.register_buffer("x", x, persistent=False)

    def forward(self, z2: torch.Tensor) -> Normal:
        return self.head(self.features(self.x, z2))


@dataclass
class GatedVAEConfig:
    x_shape: tuple = option((1, 28, 28), "shape of one example (C, H, W)", cli=False)
    likelihood: str = option("bernoulli", "observation model", tuple(LIKELIHOODS), cli=False)
    levels: int = option(1, "stochastic levels: 1 (VAE) or 2 (HVAE: q(z2|x) q(z1|x,z2), "
                         "p(z2) p(z1|z2) p(x|z1,z2))", choices=(1, 2))
    hidden: int = option(300, "units in every gated layer")
    latent: int = option(40, "units in each stochastic level")
    prior: str = option("standard", "p(z) of the top level: standard or vamp", choices=GATED_PRIORS)
    components: int = option(500, "pseudo-inputs of the VampPrior")
    pseudo_mean: float = option(0.05, "pseudo-inputs start at N(mean, std^2) per value, then "
                                "hard-tanh to [0, 1]")
    pseudo_std: float = option(0.01, "see --pseudo-mean")

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        get_likelihood(self.likelihood)
        if self.levels not in (1, 2):
            raise ConfigError(f"--levels must be 1 or 2, not {self.levels}")
        for name in ("hidden", "latent", "components"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 1 <= v <= 100_000:
                raise ConfigError(f"--{name} must be an integer from 1 to 100000, got {v}")
        if self.prior not in GATED_PRIORS:
            raise ConfigError(f"--prior must be standard or vamp, not {self.prior!r}")
        if not (math.isfinite(self.pseudo_mean) and math.isfinite(self.pseudo_std)
                and self.pseudo_std >= 0):
            raise ConfigError("--pseudo-mean must be finite and --pseudo-std finite and >= 0")


@MODELS.register("gatedvae", GatedVAEConfig, help="MLP VAE (1 level) or HVAE (2 levels) with "
                 "gated layers, standard prior or VampPrior (Tomczak & Welling 2018)")
class GatedVAE(DecodedModel):
    """Tomczak & Welling's VAE and HVAE (see the module docstring)."""

    def __init__(self, config: GatedVAEConfig | None = None) -> None:
        c = self.config = config or GatedVAEConfig()
        lik = get_likelihood(c.likelihood)
        two = c.levels == 2
        d, h, m = math.prod(c.x_shape), c.hidden, c.latent
        super().__init__(c.x_shape, [m] * c.levels, Capabilities(
            gaussian_posterior=not two, standard_normal_prior=not two and c.prior == "standard",
            analytic_kl=not two and c.prior == "standard", discrete_data=lik.discrete,
            simulates_data=True))
        self.likelihood = lik
        # encoder[0]: q(z_top | x); with two levels encoder[1], encoder[2]: q(z_1 | x, z_2)
        enc: list[nn.Module] = [GatedGaussian(d, h, m)]
        dec: list[nn.Module] = []
        if two:
            enc += [TwoInputs(d, m, h), GaussianHead(h, m)]
            dec += [TwoInputs(m, m, h), GatedGaussian(m, h, m)]  # p(x|z1,z2) features, p(z1|z2)
        else:
            dec += [gated(m, h, 2)]
        dec.append(nn.Linear(h, lik.n_params * d))  # the output layer of p(x | .)
        self.encoder, self.decoder = nn.ModuleList(enc), nn.ModuleList(dec)
        for mod in self.modules():  # the authors' he_init: N(0, 2 / fan_in), default biases
            if isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, 0.0, math.sqrt(2.0 / mod.in_features))
        self.standard_normal = StandardNormal(m)
        self.vamp = (VampPrior(c.x_shape, c.components, c.pseudo_mean, c.pseudo_std)
                     if c.prior == "vamp" else None)

    @property
    def levels(self) -> int:
        return self.config.levels

    def top_prior(self):
        """p(z_top): N(0, I) or the VampPrior, event ``[latent]``."""
        return self.vamp(self.encoder[0]) if self.vamp is not None else self.standard_normal()

    def posterior(self, x: torch.Tensor):
        x = x.flatten(1)
        top = self.encoder[0](x)
        if self.levels == 1:
            return Independent(top, 1, validate_args=False)
        step = PosteriorStep(cast(TwoInputs, self.encoder[1]),
                             cast(GaussianHead, self.encoder[2]), x)
        return GaussianChain(top, [step], list(self.latent_sizes), "up")

    @property
    def prior(self):
        top = self.top_prior()
        if self.levels == 1:
            return top
        return GaussianChain(top, [self.decoder[1]], list(self.latent_sizes), "up")

    def decode(self, z: torch.Tensor):
        """p(x | z) for z ``[..., D]`` (both levels for the HVAE)."""
        if self.levels == 1:
            h = self.decoder[0](z)
        else:
            z1, z2 = z.split(self.latent_sizes, -1)
            h = self.decoder[0](z1, z2)
        params = self.decoder[-1](h).unflatten(-1, (self.likelihood.n_params, *self.x_shape))
        return self.likelihood.dist(params, len(self.x_shape))


    def pseudo_inputs(self) -> torch.Tensor | None:
        """The VampPrior's pseudo-inputs ``[C, *x_shape]`` in [0, 1], or None."""
        return None if self.vamp is None else self.vamp.inputs()
