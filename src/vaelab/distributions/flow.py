"""Inverse autoregressive flow posteriors (Kingma et al. 2016).

    z_0 ~ N(mu(x), diag sigma(x)^2),   for t = 1..T:  (m_t, s_t) = MADE_t(z_{t-1}, h(x)),
    g_t = sigmoid(s_t + b),            z_t = g_t * z_{t-1} + (1 - g_t) * m_t,
    log q(z_T | x) = log N(z_0; mu, sigma) - sum_t sum_d log g_{t,d}

Each step's Jacobian is triangular in its MADE's order (consecutive steps use reversed orders),
so the log-determinant is the sum of log g. Sampling and scoring one's own draws costs one MADE
pass per step. Scoring any other z (AIS, importance sampling with other proposals) and the
stopped-parameter density of STL and DReG need the inverse: D fixed-point sweeps per step,
each exact in one more coordinate of the order, so D sweeps give the inverse and its
derivative exactly (the strictly triangular part of the Jacobian is nilpotent) at D MADE passes
per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Normal, constraints

from vaelab.distributions.stop_gradient import StopGradient, constant_call, detached

FORGET_BIAS = 2.0  # g = sigmoid(s + 2) ~ 0.88 at s = 0: each step starts near the identity


class IAFStep(nn.Module):
    """One IAF step around a MADE: ``(z, h) -> (z', log g)``, both ``[..., D]``."""

    def __init__(self, made: nn.Module) -> None:
        super().__init__()
        self.made = made

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, s = self.made(z, h)
        s = s + FORGET_BIAS
        g = torch.sigmoid(s)
        return g * z + (1 - g) * m, F.logsigmoid(s)


def _call(step: nn.Module, detach: bool, *args):
    return constant_call(step, *args) if detach else step(*args)  # detach: STL, DReG


def invert_step(step: IAFStep, y: torch.Tensor, h: torch.Tensor, sweeps: int,
                detach: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The z with ``step(z, h)[0] == y``, by ``sweeps`` fixed-point sweeps
    z <- (y - (1 - g(z)) m(z)) / g(z); exact (value and derivative) once ``sweeps`` >= D.
    Returns z and log g at z."""
    z = y
    for _ in range(sweeps):
        m, s = _call(step.made, detach, z, h)
        g = torch.sigmoid(s + FORGET_BIAS)
        z = (y - (1 - g) * m) / g
    m, s = _call(step.made, detach, z, h)
    return z, F.logsigmoid(s + FORGET_BIAS)


class IAF(StopGradient, Distribution):
    """q(z|x) as an inverse autoregressive flow over a diagonal Gaussian base.

    base: ``Normal`` with batch ``[B, D]``; context: h(x) ``[B, C]``; steps: ``IAFStep`` modules
    in sampling order. Batch ``[B]``, event ``[D]``. ``log_prob`` of the flow's own last draw is
    read from the sampling pass; any other value is inverted (module docstring)."""

    arg_constraints: dict = {}
    support = constraints.real
    has_rsample = True

    def __init__(self, base: Normal, context: torch.Tensor, steps: list[IAFStep],
                 detach_params: bool = False) -> None:
        self.base, self.context, self.steps = base, context, list(steps)
        self.detach_params = detach_params
        self._last: tuple[torch.Tensor, torch.Tensor, bool] | None = None
        super().__init__(base.batch_shape[:-1], base.batch_shape[-1:], validate_args=False)

    def _flow(self, z0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.context.expand(*z0.shape[:-1], self.context.shape[-1])
        z, log_q = z0, self.base.log_prob(z0).sum(-1)
        for step in self.steps:
            z, log_g = _call(step, self.detach_params, z, h)
            log_q = log_q - log_g.sum(-1)
        return z, log_q

    def rsample(self, sample_shape=()) -> torch.Tensor:
        z, log_q = self._flow(self.base.rsample(sample_shape))
        self._last = (z, log_q, torch.is_grad_enabled())
        return z

    def sample(self, sample_shape=()) -> torch.Tensor:
        # not remembered: its log q, computed without gradients, would not serve log_prob
        with torch.no_grad():
            return self._flow(self.base.sample(sample_shape))[0]

    def inverse(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z_0 with flow(z_0) = z, and sum_t sum_d log g_t (the log-determinant), ``[..., D]``
        and ``[...]``."""
        h = self.context.expand(*z.shape[:-1], self.context.shape[-1])
        log_det = z.new_zeros(z.shape[:-1])
        for step in reversed(self.steps):
            z, log_g = invert_step(step, z, h, z.shape[-1], self.detach_params)
            log_det = log_det + log_g.sum(-1)
        return z, log_det

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log q(value|x) ``[..., B]`` by the change of variables."""
        if self._last is not None and value is self._last[0] and (
                self._last[2] or not torch.is_grad_enabled()):
            return self._last[1]
        z0, log_det = self.inverse(value)
        return self.base.log_prob(z0).sum(-1) - log_det

    @property
    def mean(self) -> torch.Tensor:
        """A point summary, not E[z]: the flow applied to the base's mean (``reconstruct``)."""
        return self._flow(self.base.loc)[0]

    def stop_gradient(self) -> IAF:
        return IAF(detached(self.base), self.context.detach(), self.steps,
                   detach_params=True)

    def expand(self, batch_shape, _instance=None):  # pragma: no cover - not needed
        raise NotImplementedError
