"""An encoder layer whose posterior is an inverse autoregressive flow (Kingma et al. 2016):
the MLP gives the base Gaussian's mu, sigma and a context h(x); ``steps`` MADEs, in alternating
orders, transform the base draw (``vaelab.distributions.flow``)."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from vaelab.distributions.flow import IAF, IAFStep
from vaelab.models.layers import gaussian, mlp
from vaelab.models.made import MADE


class IAFLayer(nn.Module):
    """h -> IAF posterior over ``out_dim``: base N(mu(h), sigma(h)^2), context of ``out_dim``
    units, ``steps`` MADE steps with one hidden layer of ``4 * out_dim`` units."""

    def __init__(self, in_dim: int, hidden: list[int], out_dim: int, activation: str = "tanh",
                 steps: int = 2) -> None:
        super().__init__()
        self.d = out_dim
        self.net = mlp(in_dim, hidden, 3 * out_dim, activation)
        forward = torch.arange(1, out_dim + 1)
        self.steps = nn.ModuleList(
            IAFStep(MADE(out_dim, [4 * out_dim], out_dim,
                         forward if t % 2 == 0 else forward.flip(0)))
            for t in range(steps))

    def forward(self, h: torch.Tensor) -> IAF:
        params, context = self.net(h).split([2 * self.d, self.d], -1)
        return IAF(gaussian(params), context, [cast(IAFStep, s) for s in self.steps])
