"""Plots of diagnostics. Each function returns a Matplotlib ``Figure`` (made without pyplot, so
no backend is switched); ``save`` writes one to a file."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def per_dimension_kl_figure(kl: list[float], threshold: float = 1e-2) -> Figure:
    """Bar chart of E_x KL(q(z_j|x) || p(z_j)) per latent dimension, largest first; units whose
    posterior mean hardly moves (collapsed) in red."""
    vals = sorted(kl, reverse=True)
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    ax.bar(range(len(vals)), vals, color=["C0" if v > threshold else "C3" for v in vals])
    ax.set(yscale="log", xlabel="latent dimension (sorted by KL)", ylabel="KL (nats)",
           title="per-dimension KL(q(z_j|x) || p(z_j)); red: collapsed (< 0.01 nats)")
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
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
