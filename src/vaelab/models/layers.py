"""Building blocks: MLPs and Gaussian layers h -> N(mu(h), diag sigma(h)^2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from vaelab.errors import ConfigError

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU,
               "softplus": nn.Softplus}
MIN_STD = 1e-4


def mlp(in_dim: int, hidden: list[int], out_dim: int, activation: str = "tanh") -> nn.Sequential:
    """``in -> hidden[0] -> ... -> out``, with ``activation`` after each hidden layer."""
    if activation not in ACTIVATIONS:
        raise ConfigError(f"unknown activation '{activation}': choose from "
                          f"{', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), ACTIVATIONS[activation]()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


def gaussian(params: torch.Tensor) -> Normal:
    """Split ``[..., 2d]`` into a location and a softplus scale: N(mu, softplus(r) + 1e-4)."""
    mu, raw = params.chunk(2, dim=-1)
    return Normal(mu, F.softplus(raw) + MIN_STD, validate_args=False)


def diagonal_gaussian(params: torch.Tensor) -> Independent:
    """q(z|x) from ``[B, 2d]`` encoder outputs: a diagonal Gaussian with batch ``[B]`` and event
    ``[d]`` (``gaussian`` above, its last dimension an event)."""
    return Independent(gaussian(params), 1, validate_args=False)


class StandardNormal(nn.Module):
    """p(z) = N(0, I) over ``d`` dimensions; its buffers follow the model's device and dtype and
    are not saved (no state of its own)."""

    loc: torch.Tensor
    scale: torch.Tensor

    def __init__(self, d: int) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(d), persistent=False)
        self.register_buffer("scale", torch.ones(d), persistent=False)

    def forward(self) -> Independent:
        return Independent(Normal(self.loc, self.scale, validate_args=False), 1,
                           validate_args=False)


def inverse_softplus(y: float | torch.Tensor):
    """The raw parameter r with softplus(r) = y."""
    if torch.is_tensor(y):
        return torch.log(torch.expm1(y))
    return math.log(math.expm1(y))


class GaussianLayer(nn.Module):
    """h -> N(mu(h), diag std(h)^2) over ``out_dim``; std = softplus(.) + 1e-4."""

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int,
                 activation: str = "tanh") -> None:
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * out_dim, activation)

    def forward(self, h: torch.Tensor) -> Normal:
        return gaussian(self.net(h))


class AffineGaussian(nn.Module):
    """h -> N(A h + c, diag s^2) with a constant learned s: linear-Gaussian models."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.raw_std = nn.Parameter(torch.zeros(out_dim))

    @property
    def std(self) -> torch.Tensor:
        return F.softplus(self.raw_std) + MIN_STD

    def forward(self, h: torch.Tensor) -> Distribution:
        mu = self.linear(h)
        return Normal(mu, self.std.expand_as(mu), validate_args=False)


def scale_tril(diag_raw: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """A Cholesky factor ``[..., d, d]``: softplus(diag_raw) + 1e-4 on the diagonal, ``lower``
    ``[..., d(d-1)/2]`` below it (row by row) — the lecture's Sigma^(1/2)."""
    d = diag_raw.shape[-1]
    rows, cols = torch.tril_indices(d, d, -1, device=diag_raw.device)
    off = diag_raw.new_zeros(*lower.shape[:-1], d, d)
    off[..., rows, cols] = lower  # differentiable: autograd records the index assignment
    return off + torch.diag_embed(F.softplus(diag_raw) + MIN_STD)


class FullGaussianLayer(nn.Module):
    """h -> N(mu(h), L(h) L(h)^T) over ``out_dim``: a full-covariance Gaussian whose Cholesky
    factor the network outputs (z = mu + L eps)."""

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int,
                 activation: str = "tanh") -> None:
        super().__init__()
        self.d = out_dim
        self.net = mlp(in_dim, hidden, 2 * out_dim + out_dim * (out_dim - 1) // 2, activation)

    def forward(self, h: torch.Tensor) -> MultivariateNormal:
        out = self.net(h)
        loc, raw, lower = out.split([self.d, self.d, self.d * (self.d - 1) // 2], -1)
        return MultivariateNormal(loc, scale_tril=scale_tril(raw, lower), validate_args=False)


class AffineFullGaussian(AffineGaussian):
    """h -> N(A h + c, L L^T) with a constant learned Cholesky factor L."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(in_dim, out_dim)
        self.lower = nn.Parameter(torch.zeros(out_dim * (out_dim - 1) // 2))

    @property
    def tril(self) -> torch.Tensor:
        return scale_tril(self.raw_std, self.lower)

    def forward(self, h: torch.Tensor) -> MultivariateNormal:
        mu = self.linear(h)
        return MultivariateNormal(mu, scale_tril=self.tril.expand(*mu.shape, mu.shape[-1]),
                                  validate_args=False)
