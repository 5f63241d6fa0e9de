"""Bidirectional Monte Carlo (Grosse, Ghahramani & Adams 2015; Wu et al. 2017): a sandwich of
log p(x) on data simulated from the model.

Draw z ~ p(z), x ~ p(x|z): then z is an exact sample of p(z|x). Forward AIS from p0 gives a
stochastic lower bound of log p(x); reverse AIS started at z a stochastic upper bound. The gap
upper - lower bounds the error of the forward AIS estimate (and of any other lower bound, e.g. IS
with K = 5000) on such data, and shrinks to 0 as the number of steps grows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from vaelab.errors import ConfigError
from vaelab.eval.ais import AISConfig, anneal, summarize
from vaelab.eval.likelihood import stream_bounds
from vaelab.models.base import Model


@torch.no_grad()
def simulate(model: Model, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n pairs (x, z) from the joint: z ~ p(z) ``[n, D]``, x ~ p(x | z) ``[n, *x_shape]``."""
    if not model.capabilities.simulates_data:
        raise ConfigError(f"BDMC simulates data from the model, and {type(model).__name__} does "
                          "not declare sample_data(z) (Capabilities.simulates_data)")
    z = model.prior.sample((n,))
    return model.sample_data(z), z


def bdmc(model: Model, n: int = 100, steps: Sequence[int] = (10, 100, 1000),
         config: AISConfig | None = None, batch_size: int = 100, is_k: int = 5000,
         max_samples: int = 1 << 14, progress: bool = False) -> dict:
    """The BDMC sandwich on ``n`` simulated examples for each number of AIS steps in ``steps``.

    Returns one row per step count: the mean forward (lower) and reverse (upper) estimates of
    log p(x) over the simulated examples (nats) with their standard errors over examples, the
    forward estimate's Monte Carlo error across its (independent) chains, and the gap upper -
    lower with its standard error over examples (the gap is computed per example, so
    example-to-example variation cancels). The reverse chains of an example share their start
    (the example's one exact posterior sample), so their spread is no Monte Carlo error: the
    upper bound's and the gap's ``mc_stderr`` are NaN, and their error is over examples.
    With ``is_k`` > 0, also IS with K = ``is_k`` draws from the encoder on the same data, and
    how far below the tightest upper bound it lies (at least upper - IS minus the remaining
    gap)."""
    config = config or AISConfig()
    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 1:
        raise ConfigError("BDMC needs step counts >= 1")
    if n < 1 or batch_size < 1:
        raise ConfigError(f"BDMC needs n >= 1 simulated examples and batch size >= 1, got "
                          f"{n} and {batch_size}")
    model.eval()
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    x, z = simulate(model, n)
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=2 * n * len(steps), desc="BDMC", unit="chain-example", mininterval=1,
               disable=None if progress else True)
    for s in steps:
        cfg = AISConfig(**{**vars(config), "steps": s})
        lo, lo_err, up, up_err, t1 = [], [], [], [], time.perf_counter()
        for i in range(0, n, batch_size):
            xb, zb = x[i:i + batch_size].to(device), z[i:i + batch_size].to(device)
            f = anneal(model, xb, cfg)
            bar.update(len(xb))
            r = anneal(model, xb, cfg, z0=zb)
            bar.update(len(xb))
            lo.append(f.log_px.cpu())
            lo_err.append(f.stderr.cpu())
            up.append(r.log_px.cpu())
            up_err.append(r.stderr.cpu())
        lower, upper = torch.cat(lo), torch.cat(up)
        # the reverse chains of an example all start at its one exact posterior sample, so
        # they are not independent and their spread understates the Monte Carlo error: the
        # upper bound and the gap carry the error over (independent) examples only
        unknown = torch.full_like(upper, float("nan"))
        gap = summarize(upper - lower, unknown)
        rows.append({"steps": s, "lower": _brief(summarize(lower, torch.cat(lo_err))),
                     "upper": _brief(summarize(upper, unknown)),
                     "gap": _brief(gap), "seconds": time.perf_counter() - t1})
    bar.close()
    out = {"n_examples": n, "config": vars(config) | {"steps": steps}, "rows": rows,
           "device": str(device)}
    if is_k:
        res = [stream_bounds(model, x[i:i + batch_size].to(device), [is_k], max_samples)
               for i in range(0, n, batch_size)]
        per = torch.cat([r[is_k].cpu() for r in res])
        err = torch.cat([r["mc_var"].sqrt().cpu() for r in res])
        best = rows[-1]
        out["is"] = {"k": is_k, **_brief(summarize(per, err)),
                     "below_upper": best["upper"]["mean"] - float(per.mean()),
                     "below_lower": best["lower"]["mean"] - float(per.mean())}
    out["seconds"] = time.perf_counter() - t0
    return out


def _brief(s: dict) -> dict:
    return {k: v for k, v in s.items() if not k.startswith("per_example")}
