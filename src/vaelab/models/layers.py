"""Building blocks: MLPs and conditional distributions (Gaussian, Bernoulli) over vectors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Normal
from torch.func import functional_call

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU,
               "softplus": nn.Softplus}
MIN_STD = 1e-4


def mlp(in_dim: int, hidden: list[int], out_dim: int, activation: str = "tanh") -> nn.Sequential:
    """``in -> hidden[0] -> ... -> out``, with ``activation`` after each hidden layer."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{activation}': choose from {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), ACTIVATIONS[activation]()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class GaussianLayer(nn.Module):
    """h -> N(mu(h), diag std(h)^2) over ``out_dim``; std = softplus(.) + MIN_STD.

    ``constant_std``: std is a learned vector that does not depend on h (linear-Gaussian models).
    """

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int, activation: str = "tanh",
                 constant_std: bool = False) -> None:
        super().__init__()
        self.constant_std = constant_std
        self.net = mlp(in_dim, hidden, out_dim if constant_std else 2 * out_dim, activation)
        if constant_std:
            self.raw_std = nn.Parameter(torch.zeros(out_dim))

    def forward(self, h: torch.Tensor, stop_params: bool = False) -> Normal:
        if stop_params:  # same function, parameters cut from the graph (STL, DReG)
            detached = {k: v.detach() for k, v in self.named_parameters()}
            return functional_call(self, detached, (h,))
        out = self.net(h)
        if self.constant_std:
            mu, raw = out, self.raw_std.expand_as(out)
        else:
            mu, raw = out.chunk(2, dim=-1)
        return Normal(mu, F.softplus(raw) + MIN_STD, validate_args=False)


class BernoulliLayer(nn.Module):
    """h -> Bernoulli(logits(h)) over ``out_dim`` independent binary pixels."""

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int,
                 activation: str = "tanh") -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, out_dim, activation)

    def forward(self, h: torch.Tensor) -> Bernoulli:
        return Bernoulli(logits=self.net(h), validate_args=False)

    @torch.no_grad()
    def init_bias(self, mean_x: torch.Tensor) -> None:
        """Output bias = logit of the mean training image (Burda et al. 2015)."""
        p = mean_x.clamp(1e-3, 1 - 1e-3)
        self.net[-1].bias.copy_(torch.log(p) - torch.log1p(-p))
