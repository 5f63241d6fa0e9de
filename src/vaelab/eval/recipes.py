"""The evaluation recipe behind ``vaelab eval``, the benchmarks and the experiments: a random
subset, L_k for every k from the same draws, the NLL estimate, bits/dim and active units."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch

from vaelab.errors import ConfigError
from vaelab.eval.active_units import active_units, posterior_means
from vaelab.eval.exact import enumerable, exact_log_marginal
from vaelab.eval.likelihood import evaluate_bounds
from vaelab.models.base import Model
from vaelab.stats import stderr


def subset_index(size: int, n: int, seed: int = 0) -> torch.Tensor:
    """Positions ``[n]`` of ``n`` rows of ``size`` drawn without replacement with ``seed`` (all
    rows, in order, if n is 0 or more than there are): test splits may be sorted by class, so
    never the first n."""
    if n < 0:
        raise ConfigError(f"--examples must be >= 0 (0: all examples), got {n}")
    if n == 0 or n >= size:
        return torch.arange(size)
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:n]


def random_subset(x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """The rows ``subset_index(len(x), n, seed)`` of ``x`` (``x`` itself for all rows)."""
    index = subset_index(len(x), n, seed)
    return x if len(index) == len(x) else x[index]


def evaluate(model: Model, x: torch.Tensor, ks: Sequence[int] = (1, 5, 50, 5000), *,
             seed: int = 0, max_samples: int | None = None, binarize: bool = False,
             progress: bool = False, repeats: int = 1, compile: bool | str = False) -> dict:
    """Bounds L_k (mean and standard error over examples, nats), the log-likelihood estimate
    NLL = -L_K for the largest K with both its errors, bits/dim where log p(x) is a probability
    mass, and active units per stochastic layer.

    Two errors: ``nll_stderr`` over test examples, and ``nll_mc_stderr`` the Monte Carlo error
    of the reported estimate. The numbers behind them come too, so that anyone can recompute
    them or pair two models image by image: ``per_example`` {k: [N] L_k of each example} and
    ``per_example_mc_stderr`` [N], the Monte Carlo error of each example's L_K; ``vaelab eval
    --json`` leaves them out of what it prints. With ``repeats`` R > 1 the evaluation runs R
    times with fresh draws (seeds ``seed .. seed + R - 1``), every L_k is averaged over the runs,
    and the Monte Carlo errors are *measured*: the standard deviation of the R estimates (the
    mean's, and each example's) over sqrt(R). With one run they come from the delta method
    (the mean's is sqrt(sum of the examples' squared errors) / N), which is low when the
    weights are heavy-tailed.
    ``compile``: the log-weights compiled, with the same draws (``evaluate_bounds``).

    A discrete latent with at most ``vaelab.eval.exact.MAX_CONFIGS`` values also gets the exact
    log-likelihood by enumeration (``exact_nll``, with its standard error over examples; with
    ``binarize``, on its own Bernoulli draw of the images, seeded by ``seed``)."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ConfigError("--k values must be >= 1")
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    device = next(model.parameters(), torch.zeros(())).device
    t0 = time.perf_counter()
    runs = []
    for r in range(repeats):
        torch.manual_seed(seed + r)
        runs.append(evaluate_bounds(
            model, x, ks=ks, max_samples=max_samples, binarize=binarize,
            generator=torch.Generator(device=device).manual_seed(seed + r), progress=progress,
            compile=compile))
    seconds = time.perf_counter() - t0
    per = {k: torch.stack([r["per_example"][k] for r in runs]).mean(0) for k in ks}
    se = {k: stderr(v) for k, v in per.items()}
    kmax = ks[-1]
    if repeats > 1:
        estimates = torch.tensor([r["bounds"][kmax] for r in runs], dtype=torch.float64)
        mc, method = stderr(estimates), f"measured over {repeats} runs"
        mc_each = torch.stack([r["per_example"][kmax] for r in runs]).double().std(0) / repeats**.5
    else:
        mc, method = runs[0]["mc_stderr"], "delta method"
        mc_each = runs[0]["per_example_mc_var"].double().sqrt()
    per_layer = ([active_units(m)[0] for m in posterior_means(model, x)]
                 if model.capabilities.latent == "continuous" else [])
    out = {"n_examples": len(x), "bounds": {str(k): float(v.mean()) for k, v in per.items()},
           "bounds_stderr": {str(k): v for k, v in se.items()},
           "nll": -float(per[kmax].mean()), "nll_stderr": se[kmax], "nll_mc_stderr": mc,
           "mc_method": method, "mc_stderr_delta_method": runs[0]["mc_stderr"],
           "mean_ess": runs[0]["mean_ess"], "nll_k": kmax, "repeats": repeats,
           "seconds": seconds, "device": str(device),
           "per_example": {str(k): v.tolist() for k, v in per.items()},
           "per_example_mc_stderr": mc_each.tolist()}
    if per_layer:  # a measure of continuous latents only: absent, not 0, elsewhere
        out.update(active_units=sum(per_layer), active_units_per_layer=per_layer)
    if enumerable(model):
        # a small discrete latent: log p(x) exactly, by summing over every latent value
        xe = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed)) if binarize else x
        with torch.no_grad():
            exact = torch.cat([exact_log_marginal(model, xe[i:i + 256].to(device)).double()
                               .cpu() for i in range(0, len(xe), 256)])
        out.update(exact_nll=-float(exact.mean()),
                   exact_nll_stderr=stderr(exact),
                   exact_configurations=model.latent_support_size())
    if model.capabilities.discrete_data:
        out["bits_per_dim"] = out["nll"] / (math.prod(model.x_shape) * math.log(2))
    return out


def paired_difference(a: dict, b: dict) -> dict | None:
    """NLL of ``b`` minus NLL of ``a``, image by image, for two evaluations (``evaluate``'s
    dicts with ``data``, ``split`` and ``per_example_index``, as ``vaelab eval`` and ``vaelab
    reproduce`` write them) of the same images with the same K; None where the data, the split,
    the images' positions or K differ, or an evaluation kept no per-image values.

    diff = mean_i (-L_K^b(x_i) + L_K^a(x_i)), nats. Three errors: ``stderr`` over the images,
    of the per-image differences (paired: what the two models have in common cancels, so it is
    far smaller than ``unpaired_stderr`` = sqrt(se_a^2 + se_b^2), which is also given);
    ``mc_stderr`` = sqrt(mc_a^2 + mc_b^2), the two evaluations' draws being independent."""
    k = str(a.get("nll_k"))
    same = ("data", "split", "per_example_index")
    if (k != str(b.get("nll_k")) or any(key not in a or a[key] != b.get(key) for key in same)
            or not all(isinstance(e.get(key), float) for e in (a, b)
                       for key in ("nll_stderr", "nll_mc_stderr"))
            or k not in a.get("per_example", {}) or k not in b.get("per_example", {})):
        return None
    try:  # files written by hand or cut short: no pairing rather than a wrong one
        va, vb = (torch.tensor(e["per_example"][k], dtype=torch.float64) for e in (a, b))
    except (TypeError, ValueError, RuntimeError):
        return None
    n = len(a["per_example_index"])
    if va.shape != (n,) or vb.shape != (n,) or n < 2 or not bool(torch.isfinite(va - vb).all()):
        return None
    d = va - vb
    return {"diff": float(d.mean()), "stderr": stderr(d), "n_examples": len(d), "k": int(k),
            "mc_stderr": math.hypot(a["nll_mc_stderr"], b["nll_mc_stderr"]),
            "unpaired_stderr": math.hypot(a["nll_stderr"], b["nll_stderr"])}
