"""Discrete latent distributions over one flat vector, and their continuous relaxations.

- :class:`BernoulliChain`: layers of independent Bernoulli units, each layer's logits a function
  of the previous layer (sigmoid belief networks; Neal 1992, Mnih & Gregor 2014);
- :class:`OneHotGroups`: n independent categorical variables of m categories, stored one-hot and
  flattened to ``[n * m]`` (Jang et al. 2017's categorical VAE).

Both score *any* z, including relaxed (soft) values, by the same formula: sum z log p +
(1 - z) log(1 - p) for bits, sum z log softmax(logits) for one-hot groups. Both are
:class:`Relaxable`: ``relaxed_sample`` returns a Gumbel-softmax / Concrete draw (Jang et al. 2017;
Maddison et al. 2017) with the exact discrete draw made from the *same* noise, which is what the
relaxed and straight-through estimators need.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Distribution, constraints
from torch.func import functional_call

from vaelab.distributions.stop_gradient import StopGradient


class Relaxable(ABC):
    """A discrete distribution with a continuous relaxation of its draws."""

    @abstractmethod
    def relaxed_sample(self, sample_shape: tuple[int, ...], temperature: float
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(soft, hard) ``[*sample_shape, *batch, D]``: a reparameterized relaxed draw at
        ``temperature`` (differentiable in the parameters) and the exact discrete draw from the
        same noise (hard = the relaxed draw's limit as the temperature goes to 0)."""

    @abstractmethod
    def enumerate_support(self, expand: bool = False) -> torch.Tensor:
        """Every value, ``[N, D]``."""

    def rebar_sample(self, sample_shape: tuple[int, ...]
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, b, z~) for REBAR (Tucker et al. 2017): pre-relaxation noise z (reparameterized),
        the exact draw b = H(z), and z~ ~ p(z | b) (reparameterized given b); ``relax(z, tau)``
        maps both to relaxed values. Raises where the distribution has no such sampler."""
        raise NotImplementedError

    def relax(self, z: torch.Tensor, temperature: float) -> torch.Tensor:
        raise NotImplementedError


def _logistic_noise(shape, like: torch.Tensor) -> torch.Tensor:
    u = torch.rand(shape, device=like.device, dtype=like.dtype).clamp(1e-6, 1 - 1e-6)
    return torch.log(u) - torch.log1p(-u)


class BernoulliChain(StopGradient, Relaxable, Distribution):
    """Layers of Bernoulli units over one flat z ``[..., B, sum d]`` (layer 1 first in storage).

    first: logits of the first layer sampled, ``[B, d]`` (or ``[d]`` for a prior's top layer);
    steps: modules mapping the previous layer ``[..., d_prev]`` to the next layer's logits;
    sizes: layer sizes in storage order; direction "down" (q: z_1 first) or "up" (p: z_L
    first), as for :class:`~vaelab.distributions.GaussianChain`."""

    arg_constraints: dict = {}
    support = constraints.real  # bits, and their relaxations
    has_rsample = False

    def __init__(self, first: torch.Tensor, steps: list[nn.Module], sizes: list[int],
                 direction: str = "down", detach_params: bool = False) -> None:
        self.first, self.steps, self.sizes = first, list(steps), list(sizes)
        self.direction, self.detach_params = direction, detach_params
        super().__init__(first.shape[:-1], torch.Size([sum(sizes)]), validate_args=False)

    def _order(self) -> list[int]:
        n = len(self.sizes)
        return list(range(n)) if self.direction == "down" else list(range(n - 1, -1, -1))

    def _logits(self, i: int, h: torch.Tensor) -> torch.Tensor:
        module = self.steps[i]
        if self.detach_params:
            params = {k: v.detach() for k, v in module.named_parameters()}
            return functional_call(module, params, (h,))
        return module(h)

    def _assemble(self, layers: dict[int, torch.Tensor]) -> torch.Tensor:
        return torch.cat([layers[i] for i in range(len(self.sizes))], -1)

    def sample(self, sample_shape=()) -> torch.Tensor:
        """Ancestral bits only (the score-function estimators' hot path: no relaxation)."""
        with torch.no_grad():
            order = self._order()
            h = torch.bernoulli(torch.sigmoid(self.first).expand(*sample_shape,
                                                                  *self.first.shape))
            layers = {order[0]: h}
            for i, idx in enumerate(order[1:]):
                h = torch.bernoulli(torch.sigmoid(self._logits(i, h)))
                layers[idx] = h
            return self._assemble(layers)

    def relaxed_sample(self, sample_shape, temperature):
        order = self._order()
        shape = (*sample_shape, *self.first.shape)
        noise = _logistic_noise(shape, self.first)
        soft = torch.sigmoid((self.first.expand(shape) + noise) / temperature)
        hard = (self.first.expand(shape) + noise > 0).to(self.first.dtype)
        s_layers, h_layers = {order[0]: soft}, {order[0]: hard}
        for i, idx in enumerate(order[1:]):
            ls, lh = self._logits(i, soft), self._logits(i, hard)
            noise = _logistic_noise(ls.shape, ls)
            soft = torch.sigmoid((ls + noise) / temperature)
            hard = (lh + noise > 0).to(lh.dtype)
            s_layers[idx], h_layers[idx] = soft, hard
        return self._assemble(s_layers), self._assemble(h_layers)

    def rebar_sample(self, sample_shape):
        if len(self.sizes) != 1:
            raise NotImplementedError("REBAR's conditional sampler covers one Bernoulli layer")
        logits = self.first.expand(*sample_shape, *self.first.shape)
        u = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
        v = torch.rand_like(logits).clamp(1e-6, 1 - 1e-6)
        z = logits + torch.log(u) - torch.log1p(-u)
        b = (z > 0).to(z.dtype).detach()
        p = torch.sigmoid(logits)
        u_b = (b * (1 - p + v * p) + (1 - b) * v * (1 - p)).clamp(1e-6, 1 - 1e-6)
        return z, b, logits + torch.log(u_b) - torch.log1p(-u_b)

    def relax(self, z, temperature):
        return torch.sigmoid(z / temperature)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """sum over units of z log p + (1 - z) log(1 - p), ``[..., B]``, at bits or soft z."""
        parts = list(value.split(self.sizes, dim=-1))
        order = self._order()

        def lp(logits, z):
            return Bernoulli(logits=logits, validate_args=False).log_prob(z).sum(-1)

        total = lp(self.first, parts[order[0]])
        for i, (prev, cur) in enumerate(zip(order, order[1:])):
            total = total + lp(self._logits(i, parts[prev]), parts[cur])
        return total

    @property
    def mean(self) -> torch.Tensor:
        """The plug-in mean: each layer's probabilities at the previous layer's."""
        order = self._order()
        h = torch.sigmoid(self.first)
        layers = {order[0]: h}
        for i, idx in enumerate(order[1:]):
            h = torch.sigmoid(self._logits(i, h))
            layers[idx] = h
        return self._assemble(layers)

    def enumerate_support(self, expand: bool = False) -> torch.Tensor:
        D = sum(self.sizes)
        bits = torch.arange(2 ** D, device=self.first.device)
        return ((bits[:, None] >> torch.arange(D - 1, -1, -1, device=bits.device)) & 1).to(
            self.first.dtype)

    def stop_gradient(self) -> BernoulliChain:
        return BernoulliChain(self.first.detach(), self.steps, self.sizes, self.direction,
                              detach_params=True)


class OneHotGroups(StopGradient, Relaxable, Distribution):
    """n independent categoricals of m categories; z one-hot, flattened to ``[..., n * m]``.
    logits ``[*batch, n, m]``."""

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits
        self.n, self.m = logits.shape[-2:]
        super().__init__(logits.shape[:-2], torch.Size([self.n * self.m]), validate_args=False)

    def _groups(self, z: torch.Tensor) -> torch.Tensor:
        return z.unflatten(-1, (self.n, self.m))

    def sample(self, sample_shape=()) -> torch.Tensor:
        with torch.no_grad():
            return self.relaxed_sample(tuple(sample_shape), 1.0)[1]

    def relaxed_sample(self, sample_shape, temperature):
        shape = (*sample_shape, *self.logits.shape)
        u = torch.rand(shape, device=self.logits.device, dtype=self.logits.dtype)
        g = -torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-7)))
        y = self.logits.expand(shape) + g
        soft = torch.softmax(y / temperature, -1)
        hard = F.one_hot(y.argmax(-1), self.m).to(self.logits.dtype)
        return soft.flatten(-2), hard.flatten(-2)

    def rebar_sample(self, sample_shape):
        """Gumbel-max z = log pi + g, b = one_hot(argmax z); given b, z~_b = -log(-log v_b) and
        z~_i = -log(-log v_i / pi_i - log v_b) (Tucker et al. 2017, appendix)."""
        log_pi = torch.log_softmax(self.logits, -1).expand(*sample_shape, *self.logits.shape)
        u = torch.rand_like(log_pi).clamp(1e-10, 1 - 1e-7)
        v = torch.rand_like(log_pi).clamp(1e-10, 1 - 1e-7)
        z = log_pi - torch.log(-torch.log(u))
        b = F.one_hot(z.argmax(-1), self.m).to(z.dtype).detach()
        log_vb = (torch.log(v) * b).sum(-1, keepdim=True)
        top = -torch.log(-torch.log(v))
        others = -torch.log(-torch.log(v) / log_pi.exp() - log_vb)
        z_cond = torch.where(b > 0, top, others)
        return z.flatten(-2), b.flatten(-2), z_cond.flatten(-2)

    def relax(self, z, temperature):
        return torch.softmax(self._groups(z) / temperature, -1).flatten(-2)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """sum_groups sum_categories z log softmax(logits), ``[..., B]``."""
        return (self._groups(value) * torch.log_softmax(self.logits, -1)).sum((-2, -1))

    @property
    def mean(self) -> torch.Tensor:
        return torch.softmax(self.logits, -1).flatten(-2)

    def enumerate_support(self, expand: bool = False) -> torch.Tensor:
        eye = torch.eye(self.m, device=self.logits.device, dtype=self.logits.dtype)
        rows = [torch.cat([eye[i] for i in combo]) for combo in
                itertools.product(range(self.m), repeat=self.n)]
        return torch.stack(rows)

    def entropy(self) -> torch.Tensor:
        p = torch.log_softmax(self.logits, -1)
        return -(p.exp() * p).sum((-2, -1))

    def stop_gradient(self) -> OneHotGroups:
        return OneHotGroups(self.logits.detach())
