"""The gradient study behind ``vaelab gradients``: every estimator at several K on one batch."""

from __future__ import annotations

from typing import Any

import torch

from vaelab.errors import ConfigError
from vaelab.estimators import BASELINES, ESTIMATORS, make_estimator
from vaelab.estimators.diagnostics import fit_baseline, gradient_statistics
from vaelab.models.base import Model
from vaelab.objectives import make_objective

# (estimator, baseline) pairs compared by default
VARIANTS = [("reparam", "none"), ("stl", "none"), ("dreg", "none"), ("score_function", "none"),
            ("score_function", "mean"), ("score_function", "nvil"), ("score_function", "vimco")]
# for discrete latents: the likelihood-ratio family and the relaxations (biased)
DISCRETE_VARIANTS = [("score_function", "none"), ("score_function", "mean"),
                     ("score_function", "nvil"), ("score_function", "vimco"), ("rebar", "none"),
                     ("rws", "none"), ("gumbel", "none"), ("straight_through", "none")]


def gradient_study(model: Model, x: torch.Tensor, ks: list[int], repeats: int,
                   objective: str = "iwae", variants=None, progress=None) -> list[dict]:
    """One row per (estimator, baseline, K): per-group mean norm, variance and SNR."""
    if repeats < 2:
        raise ConfigError("--repeats must be at least 2 to estimate a variance")
    latent = model.capabilities.latent
    if latent not in ("continuous", "discrete"):
        raise ConfigError(f"gradient estimators differ only for a continuous latent; "
                          f"{type(model).__name__} has a {latent} latent")
    obj = make_objective(objective)
    rows: list[dict[str, Any]] = []
    default = VARIANTS if latent == "continuous" else DISCRETE_VARIANTS
    jobs = [(e, b, k) for k in ks for e, b in (variants or default)
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
        try:
            est.check(model, obj)
        except ConfigError:
            if variants:  # asked for by name: say why not
                raise
            continue  # a default variant that does not apply to this model (rebar, 2 layers)
        fit_baseline(est, model, obj, x)
        stats = gradient_statistics(model, est, obj, x, repeats)
        rows.append({"estimator": e, "baseline": b, "k": k, "objective": objective,
                     **{g: s.to_dict() for g, s in stats.items()}})
    reference = "reparam" if latent == "continuous" else "score_function"
    ref = {(r["k"]): r["encoder"]["total_variance"] for r in rows
           if r["estimator"] == reference and r["baseline"] == "none"}
    for r in rows:
        if r["k"] in ref and ref[r["k"]] > 0:
            r["encoder"][f"variance_vs_{reference}"] = (r["encoder"]["total_variance"]
                                                       / ref[r["k"]])
    return rows


def format_table(rows: list[dict]) -> str:
    """The study as text; the variance ratio is against reparam (continuous latents) or the
    plain score function (discrete latents)."""
    ref = "score_function" if any("variance_vs_score_function" in r["encoder"] for r in rows) \
        else "reparam"
    head = (f"{'estimator':<18}{'baseline':<9}{'K':>5}  {'enc SNR':>9}{'enc var':>11}"
            f"{'x ' + ref[:9]:>12}  {'dec SNR':>9}{'dec var':>11}")
    lines = [head, "-" * len(head)]
    for r in rows:
        e, d = r["encoder"], r["decoder"]
        ratio = e.get(f"variance_vs_{ref}", float("nan"))
        lines.append(f"{r['estimator']:<18}{r['baseline']:<9}{r['k']:>5}  {e['snr']:>9.4f}"
                     f"{e['total_variance']:>11.3g}{ratio:>12.3g}"
                     f"  {d['snr']:>9.4f}{d['total_variance']:>11.3g}")
    return "\n".join(lines)
