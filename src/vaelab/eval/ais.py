"""Annealed importance sampling (Neal 2001) of log p(x) for any model with a continuous latent.

The path runs from an initial distribution p0 (the prior p(z), or the encoder's q(z|x)) to the
unnormalized posterior p(x, z) through the geometric mixtures

    log f_t(z) = (1 - beta_t) log p0(z) + beta_t log p(x, z),   0 = beta_0 < ... < beta_T = 1.

Forward: z_0 ~ p0; for t = 1..T, log w += (beta_t - beta_{t-1}) (log p(x, z) - log p0(z)) at
z_{t-1}, then z_t ~ HMC leaving f_t invariant. E[w] = p(x), so log mean_c w_c over C chains is
a stochastic lower bound of log p(x) (Jensen), tight as T grows.

Reverse (the upper half of BDMC, Grosse et al. 2015): start at an exact posterior sample and run
the schedule backwards; then E[w] = 1 / p(x) and -log mean_c w_c is a stochastic *upper* bound.

Everything is one tensor over chains x examples x latent dims ``[C, B, D]``, in log space, on
any device. Wu et al. (2017), "On the quantitative analysis of decoder-based generative models",
use the same sigmoidal schedule and step-size rule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from vaelab.errors import ConfigError
from vaelab.eval.hmc import adapt_step_size, evaluate, hmc_step
from vaelab.models.base import Model, frozen
from vaelab.registry import option
from vaelab.stats import delta_mc_stderr, ess, stderr

INITS = ("prior", "posterior")
SCHEDULES = ("sigmoid", "linear")


def schedule(steps: int, kind: str = "sigmoid", delta: float = 4.0) -> torch.Tensor:
    """beta_0 = 0 < ... < beta_T = 1, ``[steps + 1]`` float64. "sigmoid": sigma(delta (2t/T -
    1)) rescaled to [0, 1] (Grosse et al. 2015), denser at both ends; "linear": t / T."""
    if steps < 1:
        raise ConfigError(f"AIS needs at least 1 step, got {steps}")
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    if kind == "linear":
        return t
    if kind != "sigmoid":
        raise ConfigError(f"unknown schedule {kind!r}: choose one of {', '.join(SCHEDULES)}")
    s = torch.sigmoid(delta * (2 * t - 1))
    return (s - s[0]) / (s[-1] - s[0])


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


def mc_stderr(log_w: torch.Tensor) -> torch.Tensor:
    """The standard error of log mean_c w_c across the C chains ``[C, B]`` by the delta method:
    sqrt(Var(w) / (C E[w]^2)) = sqrt(1/ESS - 1/C), ESS = (sum w)^2 / sum w^2."""
    C = log_w.shape[0]
    return delta_mc_stderr(ess(log_w, 0), C)


@dataclass
class AISConfig:
    """Settings of one AIS run. ``steps`` intermediate distributions T; ``chains`` C per
    example; ``leapfrog`` steps per HMC transition; ``step_size`` the initial leapfrog step,
    then adapted per example toward ``target_accept``."""

    steps: int = option(500, "AIS steps: intermediate distributions T between p0 and p(z|x)",
                        flag="ais-steps")
    chains: int = option(16, "AIS chains per example")
    init: str = option("prior", "AIS's initial distribution p0: the prior p(z) or the "
                       "encoder's q(z|x)", choices=INITS)
    schedule: str = option("sigmoid", "the annealing schedule of beta from 0 to 1",
                           choices=SCHEDULES)
    leapfrog: int = option(10, "leapfrog steps per HMC transition")
    step_size: float = option(0.05, "initial leapfrog step size, then adapted per example")
    target_accept: float = option(0.65, "the HMC acceptance rate the step size is adapted "
                                  "toward")

    def __post_init__(self) -> None:
        for name in ("steps", "chains", "leapfrog"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"AIS {name} must be >= 1, got {getattr(self, name)}")
        if self.init not in INITS:
            raise ConfigError(f"AIS init {self.init!r}: choose one of {', '.join(INITS)}")
        schedule(1, self.schedule)
        if not 0 < self.step_size < float("inf"):
            raise ConfigError(f"AIS step size must be a positive number, got {self.step_size}")
        if not 0 < self.target_accept < 1:
            raise ConfigError(f"the target acceptance rate must lie in (0, 1), got "
                              f"{self.target_accept}")


@dataclass
class AISResult:
    """Per-example results ``[B]``: ``log_px`` = log mean_c w_c (forward: a stochastic lower
    bound of log p(x); reverse: ``-log_px`` is a stochastic upper bound's negative, see
    :func:`anneal`), ``stderr`` its Monte Carlo error across chains (delta method),
    ``acceptance`` the mean HMC acceptance probability, ``step_size`` the final leapfrog step;
    ``log_weights`` ``[C, B]``."""

    log_px: torch.Tensor
    stderr: torch.Tensor
    log_weights: torch.Tensor
    acceptance: torch.Tensor
    step_size: torch.Tensor
    config: AISConfig
    seconds: float = 0.0


def _initial(model: Model, x: torch.Tensor, init: str):
    if model.capabilities.latent != "continuous":
        raise ConfigError(f"AIS needs a continuous latent; {type(model).__name__} has a "
                          f"{model.capabilities.latent} latent (its bounds are already exact "
                          "or deterministic)")
    model.check_input(x)
    if init == "prior":
        return model.prior
    with torch.no_grad():
        return model.posterior(x)


def anneal(model: Model, x: torch.Tensor, config: AISConfig, z0: torch.Tensor | None = None,
           progress: bool = False) -> AISResult:
    """AIS for a batch x ``[B, *x_shape]`` with ``config.chains`` chains per example.

    With ``z0`` None: forward AIS from p0 (``config.init``); ``log_px`` is the estimate of
    log p(x), a stochastic lower bound. With ``z0`` ``[B, D]`` (exact posterior samples, e.g. of
    simulated data): reverse AIS from beta = 1 to 0; then ``log_px`` = -log mean_c w_c, a
    stochastic *upper* bound of log p(x), and ``stderr`` its error."""
    t0 = time.perf_counter()
    p0 = _initial(model, x, config.init)
    C, B = config.chains, len(x)
    betas = schedule(config.steps, config.schedule)
    if z0 is not None:
        betas = betas.flip(0)
    betas = betas.to(x.device)

    def parts(z: torch.Tensor) -> torch.Tensor:  # [C, B, 2]: log p0(z), log p(x, z)
        return torch.stack([p0.log_prob(z), model.log_joint(x, z)], -1)

    with frozen(model):
        if z0 is None:
            z = p0.sample((C,)) if config.init == "posterior" else p0.sample((C, B))
        else:
            z = z0.detach().to(x.device).expand(C, B, -1).clone()
        point = evaluate(parts, z)
        step = torch.full((B,), config.step_size, device=x.device)
        log_w = torch.zeros(C, B, dtype=torch.float64, device=x.device)
        acc_sum = torch.zeros(B, dtype=torch.float64, device=x.device)
        bar = tqdm(range(1, len(betas)), desc="AIS" if z0 is None else "reverse AIS",
                   unit="step", mininterval=1, leave=False, disable=None if progress else True)
        for t in bar:
            g = (point.parts[..., 1] - point.parts[..., 0]).double()
            log_w += (betas[t] - betas[t - 1]) * g
            w = torch.stack([1 - betas[t], betas[t]]).float()
            point, accept = hmc_step(parts, point, w, step, config.leapfrog)
            step = adapt_step_size(step, accept, config.target_accept)
            acc_sum += accept.mean(0).double()
        bar.close()
    if not torch.isfinite(log_w).all():
        bad = int((~torch.isfinite(log_w)).any(0).sum())
        raise FloatingPointError(f"AIS log-weights are not finite for {bad} examples: the "
                                 "model's log p(x, z) is not finite along the path")
    estimate = log_mean_exp(log_w)
    return AISResult(-estimate if z0 is not None else estimate, mc_stderr(log_w), log_w,
                     acc_sum / config.steps, step, config, time.perf_counter() - t0)


@torch.no_grad()
def ais(model: Model, data: torch.Tensor, config: AISConfig | None = None,
        batch_size: int = 100, binarize: bool = False, progress: bool = False,
        generator: torch.Generator | None = None) -> dict:
    """Forward AIS over a data set ``[N, *x_shape]`` in batches of examples.

    Returns the mean log p̂(x) over examples (nats) with two errors: ``stderr`` over examples
    and ``mc_stderr``, the Monte Carlo error of the mean (per-example errors across chains,
    delta method, combined); the per-example estimates, their errors and acceptance rates."""
    config = config or AISConfig()
    if len(data) == 0:
        raise ConfigError("no examples to evaluate")
    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    per, err, acc, steps = [], [], [], []
    bar = tqdm(total=len(data), desc=f"AIS T={config.steps}", unit="example", mininterval=1,
               disable=None if progress else True)
    for i in range(0, len(data), batch_size):
        x = data[i:i + batch_size].to(device)
        if binarize:
            x = torch.bernoulli(x, generator=generator)
        r = anneal(model, x, config, progress=progress)
        per.append(r.log_px.cpu())
        err.append(r.stderr.cpu())
        acc.append(r.acceptance.cpu())
        steps.append(r.step_size.cpu())
        bar.update(len(x))
    bar.close()
    return summarize(torch.cat(per), torch.cat(err)) | {
        "acceptance": float(torch.cat(acc).mean()),
        "per_example_acceptance": torch.cat(acc).tolist(),
        "final_step_size_median": float(torch.cat(steps).median()),
        "config": vars(config).copy(), "seconds": time.perf_counter() - t0,
        "device": str(device)}


def summarize(per: torch.Tensor, err: torch.Tensor) -> dict:
    """Mean over examples of per-example estimates ``[N]`` with per-example Monte Carlo errors
    ``[N]``: the standard error over examples and the Monte Carlo error of the mean,
    sqrt(sum err^2) / N."""
    n = len(per)
    return {"n_examples": n, "mean": float(per.mean()),
            "stderr": stderr(per),
            "mc_stderr": float(err.double().pow(2).sum().sqrt() / n),
            "per_example": per.tolist(), "per_example_mc_stderr": err.tolist()}
