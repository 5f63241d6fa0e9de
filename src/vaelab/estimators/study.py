"""The gradient study behind ``vaelab gradients``: every estimator at several K on one batch."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.estimators import make_estimator
from vaelab.estimators.diagnostics import fit_baseline, gradient_statistics

# (estimator, baseline) pairs compared by default
VARIANTS = [("reparam", "none"), ("stl", "none"), ("dreg", "none"), ("score_function", "none"),
            ("score_function", "mean"), ("score_function", "nvil"), ("score_function", "vimco")]


def gradient_study(model: nn.Module, x: torch.Tensor, ks: list[int], repeats: int,
                   objective: str = "iwae", variants=None, progress=None) -> list[dict]:
    """One row per (estimator, baseline, K): per-group mean norm, variance and SNR."""
    if repeats < 2:
        raise ConfigError("--repeats must be at least 2 to estimate a variance")
    rows = []
    jobs = [(e, b, k) for k in ks for e, b in (variants or VARIANTS)
            if not (e == "dreg" and objective != "iwae") and not (b == "vimco" and k < 2)]
    for e, b, k in progress(jobs) if progress else jobs:
        est = make_estimator(e, objective, k, b, x_dim=x.shape[1]).to(x.device)
        fit_baseline(est, model, x)
        stats = gradient_statistics(model, est, x, repeats)
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


def plot_snr(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, group in zip(axes, ("encoder", "decoder")):
        keys = sorted({(r["estimator"], r["baseline"]) for r in rows})
        for e, b in keys:
            pts = sorted((r["k"], r[group]["snr"]) for r in rows
                         if (r["estimator"], r["baseline"]) == (e, b))
            label = e if b == "none" else f"{e}+{b}"
            ax.plot(*zip(*pts), marker="o", label=label)
        ax.set(xscale="log", yscale="log", xlabel="K", ylabel="mean SNR |E g| / std g",
               title=f"{group} gradient SNR")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
