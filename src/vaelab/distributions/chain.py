"""Hierarchies of diagonal Gaussians over one flat latent vector (Burda et al. 2015).

A chain of L layers z = [z_1, ..., z_L] (concatenated on the last dimension, layer 1 first):

    posterior  q(z|x) = q(z_1|x) q(z_2|z_1) ... q(z_L|z_{L-1})        (``direction="down"``)
    prior      p(z)   = p(z_L) p(z_{L-1}|z_L) ... p(z_1|z_2)           (``direction="up"``)

The first factor is given as a distribution (a ``Normal`` over ``[B, d]``, or any distribution
with event ``[d]``, such as a VampPrior's mixture); every later one is a module mapping the
previous layer to a ``Normal``. ``log_prob`` scores *any* z, not only the chain's own draws,
which is what AIS, local variational inference and the IWAE bounds need.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, constraints

from vaelab.distributions.stop_gradient import StopGradient, constant_call, detached


class GaussianChain(StopGradient, Distribution):
    """A chain of diagonal Gaussians; batch shape of the first factor, event ``[sum d_l]``.

    - ``first``: the first factor sampled (q(z_1|x), or p(z_L) for a prior): a ``Normal``
      with batch ``[B, d]`` or a distribution with event ``[d]``
    - ``steps``: modules ``h -> Normal`` for the following factors, in sampling order
    - ``sizes``: layer sizes in *storage* order (z_1 first)
    - ``direction``: "down" (first factor is z_1) or "up" (first factor is z_L)
    """

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = True

    def __init__(self, first: Distribution, steps: list[nn.Module], sizes: list[int],
                 direction: str = "down", detach_params: bool = False) -> None:
        if isinstance(first, Normal):  # per-dimension factors: one event of size d
            first = Independent(first, 1, validate_args=False)
        self.first, self.steps, self.sizes = first, list(steps), list(sizes)
        self.direction, self.detach_params = direction, detach_params
        super().__init__(first.batch_shape, torch.Size([sum(sizes)]), validate_args=False)

    # ---- layer order -------------------------------------------------------------------------
    def _order(self) -> list[int]:
        """Storage indices of the layers in sampling order."""
        n = len(self.sizes)
        return list(range(n)) if self.direction == "down" else list(range(n - 1, -1, -1))

    def split(self, z: torch.Tensor) -> list[torch.Tensor]:
        """z ``[..., sum d]`` -> layers in storage order."""
        return list(z.split(self.sizes, dim=-1))

    def _step(self, i: int, h: torch.Tensor) -> Normal:
        module = self.steps[i]
        # same function, parameters constant (STL, DReG)
        return constant_call(module, h) if self.detach_params else module(h)

    # ---- Distribution API ----------------------------------------------------------------------
    def rsample(self, sample_shape=()) -> torch.Tensor:
        order = self._order()
        layers: dict[int, torch.Tensor] = {}
        # a first factor without rsample (a mixture prior) is sampled, never differentiated
        z = (self.first.rsample(sample_shape) if self.first.has_rsample else
             self.first.sample(sample_shape))
        layers[order[0]] = z
        for i, idx in enumerate(order[1:]):
            z = self._step(i, z).rsample()
            layers[idx] = z
        return torch.cat([layers[i] for i in range(len(self.sizes))], -1)

    def sample(self, sample_shape=()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log of the chain's density at ``value`` ``[..., B, sum d]`` -> ``[..., B]``."""
        parts = self.split(value)
        order = self._order()
        total = self.first.log_prob(parts[order[0]])
        for i, (prev, cur) in enumerate(zip(order, order[1:])):
            total = total + self._step(i, parts[prev]).log_prob(parts[cur]).sum(-1)
        return total

    @property
    def mean(self) -> torch.Tensor:
        """The plug-in mean: each layer's location at the previous layer's location. Exact for
        the first factor; for later layers a point summary, not E[z_l] (``layer_means`` below)."""
        order = self._order()
        layers = {order[0]: self.first.mean}
        h = self.first.mean
        for i, idx in enumerate(order[1:]):
            h = self._step(i, h).loc
            layers[idx] = h
        return torch.cat([layers[i] for i in range(len(self.sizes))], -1)

    @torch.no_grad()
    def layer_means(self, n_samples: int = 32) -> list[torch.Tensor]:
        """E[z_l] per layer in storage order, ``[B, d_l]``: exact for the first factor, later
        layers Rao-Blackwellised: the mean of loc_l(z_{l-1}) over ``n_samples`` ancestral draws
        (Burda et al.'s active-units statistic for deeper layers)."""
        order = self._order()
        out = {order[0]: self.first.mean}
        z = self.first.sample((n_samples,))
        for i, idx in enumerate(order[1:]):
            step = self._step(i, z)
            out[idx] = step.loc.mean(0)
            z = step.sample()
        return [out[i] for i in range(len(self.sizes))]

    def stop_gradient(self) -> GaussianChain:
        return GaussianChain(detached(self.first), self.steps, self.sizes, self.direction,
                             detach_params=True)

    def expand(self, batch_shape, _instance=None):  # pragma: no cover - not needed
        raise NotImplementedError
