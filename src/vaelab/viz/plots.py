"""Plots of diagnostics."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_per_dimension_kl(kl: list[float], path: str | Path, threshold: float = 1e-2) -> Path:
    """Bar chart of E_x KL(q(z_j|x) || p(z_j)) per latent dimension, sorted."""
    vals = sorted(kl, reverse=True)
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(range(len(vals)), vals, color=["C0" if v > threshold else "C3" for v in vals])
    ax.set(yscale="log", xlabel="latent dimension (sorted)", ylabel="KL (nats)",
           title="per-dimension KL(q(z_j|x) || p(z_j)); red: collapsed")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
