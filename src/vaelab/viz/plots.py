"""Plots of diagnostics. Each function returns a Matplotlib ``Figure`` (made without pyplot, so
no backend is switched); ``save`` writes one to a file."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def latent_activity_figure(values: list[float], active: list[bool], kind: str = "kl") -> Figure:
    """Bars per latent dimension, largest first, labelled by dimension: E_x KL(q(z_j|x) ||
    p(z_j)) in nats (``kind="kl"``, where the prior is N(0, I) per dimension), or the variance
    of the posterior mean Var_x E[z_j|x] (``kind="variance"``). Active units (one definition:
    ``vaelab.eval.active_units.ACTIVE_LABEL``) in blue, the others in red."""
    from vaelab.eval.active_units import ACTIVE_LABEL

    order = sorted(range(len(values)), key=lambda j: -values[j])
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    ax.bar(range(len(order)), [max(values[j], 1e-6) for j in order],
           color=["C0" if active[j] else "C3" for j in order])
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([str(j) for j in order], fontsize=6, rotation=90)
    what = "KL (nats)" if kind == "kl" else "Var_x E[z_j|x]"
    ax.set(yscale="log", xlabel=f"latent dimension j (sorted by {what})", ylabel=what,
           title=f"Per-dimension {what}: {sum(active)} of {len(active)} active (blue)\n"
                 f"{ACTIVE_LABEL}")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def snr_figure(rows: list[dict]) -> Figure:
    """Gradient SNR against K per estimator, for the encoder and the decoder (log-log)."""
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, group in zip(axes, ("encoder", "decoder")):
        keys = sorted({(r["estimator"], r["baseline"]) for r in rows})
        for e, b in keys:
            pts = sorted((r["k"], r[group]["snr"]) for r in rows
                         if (r["estimator"], r["baseline"]) == (e, b))
            label = e if b == "none" else f"{e}+{b}"
            ax.plot(*zip(*pts), marker="o", label=label)
        ax.set(xscale="log", yscale="log", xlabel="K (samples per example)",
               ylabel="mean SNR |E g| / std g (dimensionless)", title=f"{group} gradient SNR")
        ks = sorted({r["k"] for r in rows})
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.xaxis.set_minor_locator(NullLocator())
        # 1-2-5 ticks with plain labels: an SNR range under a decade still gets labels
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def training_curves_figure(runs: dict[str, list[dict]]) -> Figure:
    """Training and validation bounds (nats) and the learning rate against epoch; one colour
    per run, training dashed, validation solid."""
    fig = Figure(figsize=(10, 3.6))
    ax, lr_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    for i, (name, rows) in enumerate(runs.items()):
        c = f"C{i % 10}"
        ep = [r["epoch"] for r in rows]
        train_key = next((k for k in (rows[0] if rows else {}) if k.startswith("train_")), None)
        if train_key:
            ax.plot(ep, [r[train_key] for r in rows], "--", color=c,
                    label=f"{name}: training {train_key[6:]}")
        valid = [(r["epoch"], v) for r in rows for k, v in r.items() if k.startswith("valid_L")]
        vkey = next((k for r in rows for k in r if k.startswith("valid_L")), None)
        if valid and vkey:
            ax.plot(*zip(*valid), "o-", ms=3, color=c, label=f"{name}: validation {vkey[6:]}")
        lr_ax.plot(ep, [r["lr"] for r in rows], color=c, label=name)
    ax.set(xlabel="epoch", ylabel="bound (nats per example)", title="Training curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    lr_ax.set(xlabel="epoch", ylabel="learning rate", yscale="log", title="Learning rate")
    lr_ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def bounds_figure(evals: dict[str, dict]) -> Figure:
    """L_k against k (log scale) with error bars: the standard error over examples; one line
    per run."""
    fig = Figure(figsize=(6.5, 3.8))
    ax = fig.subplots()
    for i, (name, ev) in enumerate(evals.items()):
        ks = sorted(int(k) for k in ev["bounds"])
        ax.errorbar(ks, [ev["bounds"][str(k)] for k in ks],
                    yerr=[ev["bounds_stderr"][str(k)] for k in ks], fmt="o-", capsize=3,
                    color=f"C{i % 10}", label=name)
    ax.set(xscale="log", xlabel="K (importance samples per example)",
           ylabel="L_K (nats per example)",
           title="Importance-weighted bounds L_K\n(bars: standard error over examples)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def published_figure(rows: list[dict], target: float = 0.5) -> Figure:
    """vaelab's NLL minus the paper's for every finished row of a ``vaelab reproduce`` table,
    with bars of two combined standard errors (test images, Monte Carlo and, with several
    seeds, seeds: added in quadrature) and the band of +-``target`` nats around zero."""
    done = [r for r in rows if r.get("status") == "done"]
    fig = Figure(figsize=(6.5, 1.3 + 0.42 * max(1, len(done))))
    ax = fig.subplots()
    reach = target * 1.4
    for i, r in enumerate(done):
        err = (r["nll_stderr"] ** 2 + r["nll_mc_stderr"] ** 2 +
               (r.get("nll_seed_stderr") or 0.0) ** 2) ** 0.5
        ax.errorbar([r["diff"]], [i], xerr=[2 * err], fmt="o", capsize=3, color="C0")
        reach = max(reach, 1.1 * (abs(r["diff"]) + 2 * err))
    ax.axvspan(-target, target, color="C2", alpha=0.15, lw=0)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(range(len(done)), [r["label"] for r in done], fontsize=8)
    ax.set_ylim(-0.7, len(done) - 0.3)
    ax.set_xlim(-reach, reach)
    ax.invert_yaxis()
    ax.set(xlabel="vaelab NLL - paper's (nats; below 0: vaelab lower)",
           title=f"vaelab beside the paper, every finished row\n(bars: 2 standard errors; "
                 f"shaded: within {target:g} nats)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _image(img) -> tuple:
    """[C, H, W] in [0, 1] -> what imshow takes, and its colour map."""
    import numpy as np

    a = np.asarray(img.detach().cpu().float() if hasattr(img, "detach") else img)
    a = np.clip(a, 0, 1)
    return (a[0], "gray") if a.shape[0] == 1 else (a.transpose(1, 2, 0), None)


def traversal_figure(images, dims: list[int], values: list[float]) -> Figure:
    """A traversal grid ``[len(dims) * len(values), C, H, W]``: row r sweeps latent dimension
    dims[r] over ``values``, the other dimensions held at the posterior mean."""
    rows, cols = len(dims), len(values)
    fig = Figure(figsize=(1.0 * cols + 1.2, 1.0 * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            a, cmap = _image(images[r * cols + c])
            ax = axes[r][c]
            ax.imshow(a, cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"z[{dims[r]}]", rotation=0, ha="right", va="center")
            if r == rows - 1:
                ax.set_xlabel(f"{values[c]:+.1f}")
    fig.suptitle("Latent traversals: each row sweeps one dimension (largest KL first)")
    fig.tight_layout()
    return fig
