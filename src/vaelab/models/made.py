"""MADE (Germain et al. 2015): an MLP whose weight masks make output d depend only on inputs that
come before d in a given order, plus an unmasked context. The building block of inverse
autoregressive flows (``vaelab.distributions.flow``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.models.layers import ACTIVATIONS


class MaskedLinear(nn.Linear):
    """``y = x (W * mask)^T + b``; the mask ``[out, in]`` is derived from the architecture, so it
    is a non-persistent buffer (rebuilt, never saved)."""

    mask: torch.Tensor

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor) -> None:
        super().__init__(in_features, out_features)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """``(z [..., D], h [..., C]) -> (m, s)``, each ``[..., D]``, where m_d and s_d depend on
    z only through the z_j with ``order[j] < order[d]`` (and on all of h).

    Degrees: input j has degree ``order[j]`` in 1..D; hidden units cycle through 0..D-1 (degree
    0 sees only the context); a unit sees the units below it of degree <= its own, an output of
    degree k the hidden units of degree < k. The output layer starts at zero, so a fresh MADE
    returns m = s = 0."""

    def __init__(self, d: int, hidden: list[int], context: int, order: torch.Tensor,
                 activation: str = "elu") -> None:
        super().__init__()
        self.d = d
        order = torch.as_tensor(order, dtype=torch.long)
        if sorted(order.tolist()) != list(range(1, d + 1)):
            raise ValueError(f"order must be a permutation of 1..{d}")
        self.register_buffer("order", order, persistent=False)
        degrees = [order]
        layers: list[nn.Module] = []
        for width in hidden:
            deg = torch.arange(width) % d
            layers.append(MaskedLinear(len(degrees[-1]), width,
                                       deg[:, None] >= degrees[-1][None, :]))
            degrees.append(deg)
        self.hidden = nn.ModuleList(layers)
        self.context = nn.Linear(context, hidden[0], bias=False) if hidden else None
        out_deg = torch.cat([order, order])
        self.out = MaskedLinear(len(degrees[-1]), 2 * d, out_deg[:, None] > degrees[-1][None, :])
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.act = ACTIVATIONS[activation]()

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = z
        for i, layer in enumerate(self.hidden):
            a = layer(a)
            if i == 0 and self.context is not None:
                a = a + self.context(h)
            a = self.act(a)
        return self.out(a).chunk(2, dim=-1)
