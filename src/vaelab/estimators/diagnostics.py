"""Gradient-estimator diagnostics: mean, variance and signal-to-noise ratio over repeats.

For R independent estimates g_r of a gradient (same data, fresh samples), per parameter::

    mean = (1/R) sum_r g_r,   var = (1/(R-1)) sum_r (g_r - mean)^2,   SNR = abs(mean) / sqrt(var)

(Rainforth et al. 2018). Reported per parameter group: the mean of per-parameter SNRs, the total
variance (sum of variances) and the norm of the mean gradient.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vaelab.estimators.base import Estimator
from vaelab.models.base import Model
from vaelab.objectives.base import Objective


@dataclass
class GradientStats:
    mean_norm: float        # ||E[g]||
    total_variance: float   # sum over parameters of Var[g_i]
    snr: float              # mean over parameters of |E[g_i]| / std[g_i]
    snr_median: float
    n_params: int
    repeats: int

    def to_dict(self) -> dict:
        return asdict(self)


def parameter_groups(model: Model) -> dict[str, list[nn.Parameter]]:
    """Inference network (phi, "encoder") and generative model (theta, "decoder")."""
    return {"encoder": model.inference_parameters(), "decoder": model.generative_parameters()}


def gradient_samples(model: Model, estimator: Estimator, objective: Objective, x: torch.Tensor,
                     repeats: int, params: list[nn.Parameter]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Running sums of g and g^2 (float64, ``[P]``) over ``repeats`` estimates of the gradient of
    the batch-mean objective w.r.t. ``params``."""
    s1: torch.Tensor | None = None
    s2: torch.Tensor | None = None
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(repeats):
        out = estimator(model, x, objective)
        grads = torch.autograd.grad(out.surrogate.mean(), params, allow_unused=True)
        g = torch.cat([(gi if gi is not None else torch.zeros_like(p)).flatten()
                       for gi, p in zip(grads, params)]).double()
        s1 = g if s1 is None else s1 + g
        s2 = g * g if s2 is None else s2 + g * g
    assert s1 is not None and s2 is not None
    return s1, s2


def summarize(s1: torch.Tensor, s2: torch.Tensor, repeats: int) -> GradientStats:
    mean = s1 / repeats
    var = ((s2 - repeats * mean ** 2) / max(repeats - 1, 1)).clamp_min(0)
    ok = var > 0
    snr = mean.abs()[ok] / var[ok].sqrt()
    return GradientStats(float(mean.norm()), float(var.sum()),
                         float(snr.mean()) if ok.any() else float("inf"),
                         float(snr.median()) if ok.any() else float("inf"), len(mean), repeats)


def gradient_statistics(model: Model, estimator: Estimator, objective: Objective,
                        x: torch.Tensor, repeats: int,
                        groups: dict[str, list[nn.Parameter]] | None = None
                        ) -> dict[str, GradientStats]:
    """Statistics of ``repeats`` independent gradient estimates, per parameter group."""
    groups = groups or parameter_groups(model)
    names = list(groups)
    flat = [p for n in names for p in groups[n]]
    s1, s2 = gradient_samples(model, estimator, objective, x, repeats, flat)
    out, i = {}, 0
    for n in names:
        size = sum(p.numel() for p in groups[n])
        out[n] = summarize(s1[i:i + size], s2[i:i + size], repeats)
        i += size
    return out


def fit_baseline(estimator: Estimator, model: Model, objective: Objective, x: torch.Tensor,
                 steps: int = 200, lr: float = 1e-3) -> None:
    """Fit an estimator's own state (a learned baseline and its running mean) to a fixed model
    before diagnostics; estimators without state are left as they are."""
    params = list(estimator.parameters())
    if not params and not list(estimator.buffers()):
        return
    opt = torch.optim.Adam(params, lr=lr) if params else None
    estimator.train()
    for _ in range(steps):
        out = estimator(model, x, objective)
        if opt is not None:
            opt.zero_grad()
            out.aux_loss.backward(inputs=params)
            opt.step()
    estimator.eval()
