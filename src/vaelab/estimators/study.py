"""The gradient study behind ``vaelab gradients``: every estimator at several K on one batch."""

from __future__ import annotations

import torch

from vaelab.errors import ConfigError
from vaelab.estimators import BASELINES, ESTIMATORS, make_estimator
from vaelab.estimators.diagnostics import fit_baseline, gradient_statistics
from vaelab.models.base import Model
from vaelab.objectives import make_objective

# (estimator, baseline) pairs compared by default
VARIANTS = [("reparam", "none"), ("stl", "none"), ("dreg", "none"), ("score_function", "none"),
            ("score_function", "mean"), ("score_function", "nvil"), ("score_function", "vimco")]


def gradient_study(model: Model, x: torch.Tensor, ks: list[int], repeats: int,
                   objective: str = "iwae", variants=None, progress=None) -> list[dict]:
    """One row per (estimator, baseline, K): per-group mean norm, variance and SNR."""
    if repeats < 2:
        raise ConfigError("--repeats must be at least 2 to estimate a variance")
    if model.capabilities.latent != "continuous":
        raise ConfigError(f"gradient estimators differ only for a continuous latent; "
                          f"{type(model).__name__} has a {model.capabilities.latent} latent")
    obj = make_objective(objective)
    rows = []
    jobs = [(e, b, k) for k in ks for e, b in (variants or VARIANTS)
            if not (e == "dreg" and objective != "iwae") and not (b == "vimco" and k < 2)]
    for e, b, _ in jobs:  # every name checked before the first (slow) study
        ESTIMATORS.get(e)
        if b != "none" and (e != "score_function" or b not in BASELINES):
            raise ConfigError(f"baseline '{b}' is not one of score_function's "
                              f"({', '.join(BASELINES)})" if e == "score_function" else
                              f"a baseline ({b}) applies to score_function only, not {e}")
    x_dim = x[0].numel()
    for e, b, k in progress(jobs) if progress else jobs:
        opts = {"baseline": b} if e == "score_function" else {}
        est = make_estimator(e, k, x_dim, **opts).to(x.device)
        fit_baseline(est, model, obj, x)
        stats = gradient_statistics(model, est, obj, x, repeats)
        rows.append({"estimator": e, "baseline": b, "k": k, "objective": objective,
                     **{g: s.to_dict() for g, s in stats.items()}})
    ref = {(r["k"]): r["encoder"]["total_variance"] for r in rows
           if r["estimator"] == "reparam"}
    for r in rows:
        if r["k"] in ref and ref[r["k"]] > 0:
            r["encoder"]["variance_vs_reparam"] = r["encoder"]["total_variance"] / ref[r["k"]]
    return rows


def format_table(rows: list[dict]) -> str:
    head = (f"{'estimator':<16}{'baseline':<9}{'K':>5}  {'enc SNR':>9}{'enc var':>11}"
            f"{'x reparam':>11}  {'dec SNR':>9}{'dec var':>11}")
    lines = [head, "-" * len(head)]
    for r in rows:
        e, d = r["encoder"], r["decoder"]
        ratio = e.get("variance_vs_reparam", float("nan"))
        lines.append(f"{r['estimator']:<16}{r['baseline']:<9}{r['k']:>5}  {e['snr']:>9.4f}"
                     f"{e['total_variance']:>11.3g}{ratio:>11.3g}"
                     f"  {d['snr']:>9.4f}{d['total_variance']:>11.3g}")
    return "\n".join(lines)
