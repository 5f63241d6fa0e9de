"""Learned priors p(z) for one stochastic layer: a mixture of Gaussians, and the VampPrior
(Tomczak & Welling 2018), p(z) = (1/C) sum_c q(z | u_c), the encoder's posteriors at C learned
pseudo-inputs u_c. Both are ``torch.distributions.MixtureSameFamily`` with event ``[d]``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vaelab.models.layers import MIN_STD

PRIORS = ("standard", "mog", "vamp")


class MixtureOfGaussiansPrior(nn.Module):
    """sum_c pi_c N(z; m_c, diag s_c^2) with learned weights, means and scales."""

    def __init__(self, d: int, components: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.randn(components, d))
        self.raw_scale = nn.Parameter(torch.zeros(components, d))
        self.logits = nn.Parameter(torch.zeros(components))

    def forward(self) -> MixtureSameFamily:
        comp = Independent(Normal(self.loc, F.softplus(self.raw_scale) + MIN_STD,
                                  validate_args=False), 1, validate_args=False)
        return MixtureSameFamily(Categorical(logits=self.logits, validate_args=False), comp,
                                 validate_args=False)


class VampPrior(nn.Module):
    """(1/C) sum_c q(z | u_c): ``forward(encoder)`` with ``encoder(u) -> Normal`` over z, the
    pseudo-inputs u_c ``[C, *x_shape]`` kept in [0, 1] by a hard tanh."""

    def __init__(self, x_shape: tuple[int, ...], components: int) -> None:
        super().__init__()
        self.pseudo_inputs = nn.Parameter(0.5 + 0.01 * torch.randn(components, *x_shape))

    def inputs(self) -> torch.Tensor:
        return F.hardtanh(self.pseudo_inputs, 0.0, 1.0)

    def forward(self, encoder: nn.Module) -> MixtureSameFamily:
        comp = encoder(self.inputs().flatten(1))  # Normal, batch [C, d]
        weights = Categorical(logits=torch.zeros(len(self.pseudo_inputs),
                                                 device=self.pseudo_inputs.device),
                              validate_args=False)
        return MixtureSameFamily(weights, Independent(comp, 1, validate_args=False),
                                 validate_args=False)

    @torch.no_grad()
    def init_from_data(self, mean_x: torch.Tensor) -> None:
        noise = 0.01 * torch.randn_like(self.pseudo_inputs)
        self.pseudo_inputs.copy_(mean_x.to(self.pseudo_inputs).expand_as(noise) + noise)
