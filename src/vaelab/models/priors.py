"""Learned priors p(z) for one stochastic layer: a mixture of Gaussians, and the VampPrior
(Tomczak & Welling 2018), p(z) = (1/C) sum_c q(z | u_c), the encoder's posteriors at C learned
pseudo-inputs u_c. Both are :class:`DiagonalGaussianMixture` distributions with event ``[d]``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Normal, constraints

from vaelab.models.layers import MIN_STD

PRIORS = ("standard", "mog", "vamp")


class DiagonalGaussianMixture(Distribution):
    """sum_c pi_c N(z; m_c, diag s_c^2), event ``[d]``. ``log_prob`` expands the quadratic form,
    log N(z; m_c, s_c) = -z^2 . (1/s_c^2)/2 + z . (m_c/s_c^2) + const_c, so all N x C pairs are
    two matrix products (in float64, against cancellation) instead of an [N, C, d] tensor:
    a VampPrior with 500 components stays cheap."""

    arg_constraints: dict = {}
    support = constraints.real

    def __init__(self, logits: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> None:
        self.logits, self.loc, self.scale = logits, loc, scale
        super().__init__(torch.Size(), loc.shape[-1:], validate_args=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        zz = z.reshape(-1, z.shape[-1]).double()
        loc, prec = self.loc.double(), self.scale.double().pow(-2)
        const = (-0.5 * (loc.pow(2) * prec).sum(-1) - self.scale.double().log().sum(-1)
                 - 0.5 * loc.shape[-1] * math.log(2 * math.pi)
                 + torch.log_softmax(self.logits.double(), -1))  # [C]
        lp = -0.5 * zz.pow(2) @ prec.T + zz @ (loc * prec).T + const  # [N, C]
        return torch.logsumexp(lp, -1).to(z.dtype).reshape(lead)

    def sample(self, sample_shape=()) -> torch.Tensor:
        with torch.no_grad():
            c = Categorical(logits=self.logits).sample(sample_shape)
            return Normal(self.loc[c], self.scale[c]).sample()

    @property
    def mean(self) -> torch.Tensor:
        return (torch.softmax(self.logits, -1)[:, None] * self.loc).sum(0)


class MixtureOfGaussiansPrior(nn.Module):
    """sum_c pi_c N(z; m_c, diag s_c^2) with learned weights, means and scales."""

    def __init__(self, d: int, components: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.randn(components, d))
        self.raw_scale = nn.Parameter(torch.zeros(components, d))
        self.logits = nn.Parameter(torch.zeros(components))

    def forward(self) -> DiagonalGaussianMixture:
        return DiagonalGaussianMixture(self.logits, self.loc,
                                       F.softplus(self.raw_scale) + MIN_STD)


class VampPrior(nn.Module):
    """(1/C) sum_c q(z | u_c): ``forward(encoder)`` with ``encoder(u) -> Normal`` over z, the
    pseudo-inputs u_c ``[C, *x_shape]`` kept in [0, 1] by a hard tanh, drawn at the start from
    N(init_mean, init_std^2) per value (Tomczak & Welling's code: 0.05 and 0.01 for MNIST)."""

    def __init__(self, x_shape: tuple[int, ...], components: int, init_mean: float = 0.5,
                 init_std: float = 0.01) -> None:
        super().__init__()
        self.pseudo_inputs = nn.Parameter(init_mean + init_std * torch.randn(components,
                                                                             *x_shape))

    def inputs(self) -> torch.Tensor:
        return F.hardtanh(self.pseudo_inputs, 0.0, 1.0)

    def forward(self, encoder: nn.Module) -> DiagonalGaussianMixture:
        if torch.is_grad_enabled():
            return self._mixture(encoder)
        # without gradients (evaluation: K = 5000 in many chunks) the components are computed
        # once while the weights stay the same: keyed on every tensor's identity and version
        key: tuple = tuple((id(p), p._version)
                           for p in (self.pseudo_inputs, *encoder.parameters()))
        key += (id(encoder), encoder.training)
        cached = self.__dict__.get("_cache")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_cache"] = (key, self._mixture(encoder))
        return cached[1]

    def _mixture(self, encoder: nn.Module) -> DiagonalGaussianMixture:
        comp = encoder(self.inputs().flatten(1))  # Normal, batch [C, d]
        return DiagonalGaussianMixture(comp.loc.new_zeros(len(comp.loc)), comp.loc, comp.scale)

    @torch.no_grad()
    def init_from_data(self, mean_x: torch.Tensor) -> None:
        noise = 0.01 * torch.randn_like(self.pseudo_inputs)
        self.pseudo_inputs.copy_(mean_x.to(self.pseudo_inputs).expand_as(noise) + noise)
