"""Hamiltonian Monte Carlo for batched targets, the transition kernel of AIS and BDMC.

A target is a weighted sum of P log densities, log f(z) = sum_j w_j log f_j(z), given as one
function ``parts(z [C, B, D]) -> [C, B, P]`` (differentiable in z) and the weights ``[P]``: C
chains for each of B examples, all advanced at once. AIS's path (1 - beta) log p0 + beta
log p(x, z) is the case P = 2, w = (1 - beta, beta); keeping the parts apart lets the annealer
move to the next beta without evaluating the model again.

One transition draws a momentum p ~ N(0, I), runs ``n_leapfrog`` leapfrog steps of size
``step_size`` (one per example, ``[B]``) and accepts with probability
min(1, exp(H(z, p) - H(z', p'))), H = -log f + p.p / 2, so it leaves f invariant (Neal 2011,
"MCMC using Hamiltonian dynamics"). A proposal whose density or gradient is not finite is
rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

Parts = Callable[[torch.Tensor], torch.Tensor]


class Point(NamedTuple):
    """A state of every chain: z ``[C, B, D]``, the parts ``[C, B, P]`` and their gradients
    ``[C, B, D, P]`` (all detached)."""

    z: torch.Tensor
    parts: torch.Tensor
    grads: torch.Tensor

    def log_f(self, w: torch.Tensor) -> torch.Tensor:
        return self.parts @ w

    def grad(self, w: torch.Tensor) -> torch.Tensor:
        return self.grads @ w


def evaluate(parts: Parts, z: torch.Tensor) -> Point:
    """The parts at z and the gradient of each (one backward pass per part)."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        v = parts(z)
        n = v.shape[-1]
        grads = [torch.autograd.grad(v[..., j].sum(), z, retain_graph=j < n - 1)[0]
                 for j in range(n)]
    return Point(z.detach(), v.detach(), torch.stack(grads, -1))


def hmc_step(parts: Parts, point: Point, w: torch.Tensor, step_size: torch.Tensor,
             n_leapfrog: int) -> tuple[Point, torch.Tensor]:
    """One HMC transition of every chain for log f = parts @ w; ``step_size`` ``[B]``.
    Returns the new point and the acceptance probability ``[C, B]``."""
    w = w.to(point.parts)
    step = step_size.view(1, -1, 1).to(point.z)
    p0 = torch.randn_like(point.z)
    p = p0 + 0.5 * step * point.grad(w)
    new = point
    for i in range(n_leapfrog):
        new = evaluate(parts, new.z + step * p)
        p = p + (step if i < n_leapfrog - 1 else 0.5 * step) * new.grad(w)
    h0 = point.log_f(w) - 0.5 * p0.pow(2).sum(-1)
    h1 = new.log_f(w) - 0.5 * p.pow(2).sum(-1)
    log_alpha = h1 - h0
    ok = torch.isfinite(log_alpha) & torch.isfinite(new.grads).flatten(-2).all(-1)
    log_alpha = torch.where(ok, log_alpha, torch.full_like(log_alpha, -torch.inf))
    accept = torch.rand_like(log_alpha).log() < log_alpha
    a = accept[..., None]
    out = Point(torch.where(a, new.z, point.z), torch.where(a, new.parts, point.parts),
                torch.where(a[..., None], new.grads, point.grads))
    return out, log_alpha.clamp(max=0).exp()


def adapt_step_size(step_size: torch.Tensor, accept_prob: torch.Tensor, target: float,
                    rate: float = 0.02, bounds: tuple[float, float] = (1e-4, 1.0)
                    ) -> torch.Tensor:
    """Multiply each example's step size by (1 + rate) when its chains' mean acceptance
    probability is above ``target``, else by (1 - rate) (the rule of Wu et al. 2017's code)."""
    up = accept_prob.mean(0) > target
    factor = torch.where(up, 1 + rate, 1 - rate).to(step_size)
    return (step_size * factor).clamp(*bounds)
