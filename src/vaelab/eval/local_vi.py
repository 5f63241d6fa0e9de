"""Local (non-amortized) variational inference: the best Gaussian q for each x on its own.

The lecture: "the above minimization is for a particular x; amortized variational inference"
shares one encoder across all x instead. Optimizing a separate q_x for each test x,

    ELBO*(x) = max_{q in family} E_q[log p(x, z) - log q(z)],

measures what amortization costs (Cremer, Li & Duvenaud 2018, "Inference suboptimality in
variational autoencoders"). Each q_x starts at the encoder's q(z|x) (its mean and scale; moment
matched from draws when q is not a diagonal Gaussian) and follows reparameterized ELBO
gradients with Adam. With a constant step size Adam's iterate jitters around the optimum (by
about the step size in every coordinate), which costs ELBO* about 0.01 nats at lr 1e-2, as much
as a small approximation gap. So the step size falls in ``stages`` (lr, lr/3, lr/9, ...): a
stage ends when every example's ELBO, averaged over a window of ``check_every`` steps, rose by
less than ``tol`` nats since the previous window; the final q is the average of the last
window's iterates (Polyak averaging). An example is *converged* when its ELBO plateaued in the
last stage; the result says which did not (``max_steps`` ran out first). Families: "diagonal"
(mean-field) or "full" covariance (a Cholesky factor).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from vaelab.errors import ConfigError
from vaelab.models.base import Model, frozen
from vaelab.registry import option

FAMILIES = ("diagonal", "full")


@dataclass
class LocalVIConfig:
    """``samples`` reparameterized draws per step; ``check_every`` steps per window;
    ``eval_samples`` draws for the final ELBO estimates."""

    family: str = option("diagonal", "local q's Gaussian family: diagonal (the encoder's, for "
                         "one stochastic layer) or full covariance", choices=FAMILIES)
    max_steps: int = option(6000, "most Adam steps of local variational inference",
                            flag="local-steps")
    lr: float = option(1e-2, "its first learning rate (then divided by 3 at each stage)",
                       flag="local-lr")
    samples: int = option(16, "reparameterized draws per local VI step", flag="local-samples")
    check_every: int = option(100, "steps per convergence window", flag="local-window")
    tol: float = option(0.01, "a stage ends when every example's ELBO rose by less than this "
                        "(nats) over one window", flag="local-tol")
    eval_samples: int = option(1000, "draws for each final ELBO estimate", flag="elbo-samples")
    stages: int = option(4, "learning-rate stages of local VI", flag="local-stages")

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"local VI family {self.family!r}: choose one of "
                              f"{', '.join(FAMILIES)}")
        for name in ("max_steps", "samples", "check_every", "eval_samples", "stages"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"local VI {name.replace('_', '-')} must be >= 1, got "
                                  f"{getattr(self, name)}")
        if not 0 < self.lr < float("inf") or not 0 <= self.tol < float("inf"):
            raise ConfigError(f"local VI needs lr > 0 and tol >= 0, got {self.lr} and "
                              f"{self.tol}")


class LocalGaussian:
    """Free parameters of one Gaussian per example: loc ``[B, D]``, log scale ``[B, D]`` and,
    for the full family, the strictly lower triangle of the Cholesky factor ``[B, D, D]``."""

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, family: str) -> None:
        self.family = family
        self.loc = loc.detach().clone().requires_grad_(True)
        self.log_scale = scale.detach().clamp_min(1e-6).log().requires_grad_(True)
        D = loc.shape[-1]
        self.lower = (torch.zeros(*loc.shape, D, dtype=loc.dtype, device=loc.device)
                      .requires_grad_(True) if family == "full" else None)

    def parameters(self) -> list[torch.Tensor]:
        return [p for p in (self.loc, self.log_scale, self.lower) if p is not None]

    def distribution(self, params: list[torch.Tensor] | None = None) -> Distribution:
        """q at the current parameters, or at ``params`` (e.g. their running average)."""
        loc, log_scale, *rest = params if params is not None else self.parameters()
        if self.lower is None:
            return Independent(Normal(loc, log_scale.exp(), validate_args=False), 1,
                               validate_args=False)
        tril = torch.tril(rest[0], -1) + torch.diag_embed(log_scale.exp())
        return MultivariateNormal(loc, scale_tril=tril, validate_args=False)


@torch.no_grad()
def encoder_moments(model: Model, x: torch.Tensor, draws: int = 1024
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and marginal std ``[B, D]`` of q(z|x): exact for a diagonal Gaussian, else from
    ``draws`` samples."""
    q = model.posterior(x)
    if isinstance(q, Independent) and isinstance(q.base_dist, Normal):
        return q.base_dist.loc, q.base_dist.scale
    z = q.sample((draws,))
    return z.mean(0), z.std(0)


def elbo_estimate(model: Model, x: torch.Tensor, q: Distribution, samples: int,
                  chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """E_q[log p(x, z) - log q(z)] from ``samples`` draws, ``[B]``, with its Monte Carlo
    standard error (std of log w over sqrt(samples)); float64, no gradients."""
    total = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    total2 = torch.zeros_like(total)
    with torch.no_grad():
        for s in range(0, samples, chunk):
            z = q.sample((min(chunk, samples - s),))
            lw = (model.log_joint(x, z) - q.log_prob(z)).double()
            total += lw.sum(0)
            total2 += lw.pow(2).sum(0)
    mean = total / samples
    var = (total2 / samples - mean ** 2).clamp_min(0) * samples / max(samples - 1, 1)
    return mean, (var / samples).sqrt()


@dataclass
class LocalVIResult:
    """Per example ``[B]``: ``elbo`` (ELBO* estimated with ``eval_samples`` draws) and its Monte
    Carlo error, the step at which the example converged in the last stage (``max_steps`` if
    it did not) and whether it did, and the optimized q (batch ``[B]``)."""

    elbo: torch.Tensor
    elbo_stderr: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    q: Distribution
    seconds: float


def local_vi(model: Model, x: torch.Tensor, config: LocalVIConfig | None = None
             ) -> LocalVIResult:
    """The best ELBO within ``config.family`` for each example of x ``[B, *x_shape]``."""
    config = config or LocalVIConfig()
    if model.capabilities.latent != "continuous":
        raise ConfigError(f"local variational inference needs a continuous latent; "
                          f"{type(model).__name__} has a {model.capabilities.latent} latent")
    model.check_input(x)
    t0 = time.perf_counter()
    B = len(x)
    with frozen(model):
        params = LocalGaussian(*encoder_moments(model, x), config.family)
        opt = torch.optim.Adam(params.parameters(), lr=config.lr)
        window = torch.zeros(B, dtype=torch.float64, device=x.device)
        previous = torch.full_like(window, -math.inf)
        done_at = torch.full((B,), config.max_steps, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        stage, n_avg = 0, 0
        average = [torch.zeros_like(p) for p in params.parameters()]
        for step in range(1, config.max_steps + 1):
            q = params.distribution()
            z = q.rsample((config.samples,))
            elbo = (model.log_joint(x, z) - q.log_prob(z)).mean(0)
            opt.zero_grad(set_to_none=True)
            (-elbo.sum()).backward()
            opt.step()
            window += elbo.detach().double()
            with torch.no_grad():
                for a, p in zip(average, params.parameters()):
                    a += p
                n_avg += 1
            if step % config.check_every == 0:
                mean = window / config.check_every
                newly = ((mean - previous) < config.tol).cpu() & ~done
                done_at[newly] = step
                done |= newly
                previous, window = mean, torch.zeros_like(window)
                last = stage == config.stages - 1
                if done.all() and last:
                    break  # q: the average of this last window
                average, n_avg = [torch.zeros_like(p) for p in params.parameters()], 0
                if done.all():  # every example plateaued: a smaller step size, a new stage
                    stage += 1
                    done[:] = False
                    done_at[:] = config.max_steps
                    previous = torch.full_like(window, -math.inf)
                    for g in opt.param_groups:
                        g["lr"] /= 3
        with torch.no_grad():
            q = (params.distribution([a / n_avg for a in average])
                 if stage == config.stages - 1 and n_avg else params.distribution())
            elbo, err = elbo_estimate(model, x, q, config.eval_samples)
    if not torch.isfinite(elbo).all():
        raise FloatingPointError("local variational inference diverged (the ELBO is not "
                                 "finite): lower --local-lr")
    return LocalVIResult(elbo, err, done_at, done, q, time.perf_counter() - t0)
