"""The evaluation recipe behind ``vaelab eval``, the benchmarks and the experiments: a random
subset, L_k for every k from the same draws, the NLL estimate, bits/dim and active units."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch

from vaelab.errors import ConfigError
from vaelab.eval.active_units import active_units, posterior_means
from vaelab.eval.likelihood import evaluate_bounds
from vaelab.models.base import Model


def random_subset(x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` rows of ``x`` drawn without replacement with ``seed`` (all rows if n is 0 or more
    than there are): test splits may be sorted by class, so never the first n."""
    if n < 0:
        raise ConfigError(f"--subset must be >= 0 (0: all examples), got {n}")
    if n == 0 or n >= len(x):
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


def evaluate(model: Model, x: torch.Tensor, ks: Sequence[int] = (1, 5, 50, 5000), *,
             seed: int = 0, max_samples: int | None = None, binarize: bool = False,
             progress: bool = False) -> dict:
    """Bounds L_k (mean and standard error over examples, nats), the log-likelihood estimate
    NLL = -L_K for the largest K with both its errors (over examples; Monte Carlo), bits/dim
    where log p(x) is a probability mass, and active units per stochastic layer."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ConfigError("--k values must be >= 1")
    device = next(model.parameters(), torch.zeros(())).device
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    res = evaluate_bounds(model, x, ks=ks, max_samples=max_samples, binarize=binarize,
                          generator=torch.Generator(device=device).manual_seed(seed),
                          progress=progress)
    seconds = time.perf_counter() - t0
    per_layer = ([active_units(m)[0] for m in posterior_means(model, x)]
                 if model.capabilities.latent == "continuous" else [])
    kmax = ks[-1]
    out = {"n_examples": len(x), "bounds": {str(k): v for k, v in res["bounds"].items()},
           "bounds_stderr": {str(k): v for k, v in res["stderr"].items()},
           "nll": -res["bounds"][kmax], "nll_stderr": res["stderr"][kmax],
           "nll_mc_stderr": res["mc_stderr"], "mean_ess": res["mean_ess"], "nll_k": kmax,
           "active_units": sum(per_layer), "active_units_per_layer": per_layer,
           "seconds": seconds, "device": str(device)}
    if model.capabilities.discrete_data:
        out["bits_per_dim"] = out["nll"] / (math.prod(model.x_shape) * math.log(2))
    return out
