"""Figures: image grids and plots (no pyplot, no global backend switch)."""

from vaelab.viz.images import grid, pair_grid, save_array, save_grid, save_pairs
from vaelab.viz.plots import (
    bounds_figure,
    latent_activity_figure,
    published_figure,
    save,
    snr_figure,
    training_curves_figure,
    traversal_figure,
)

__all__ = ["bounds_figure", "grid", "pair_grid", "latent_activity_figure", "published_figure",
           "save", "save_array", "save_grid", "save_pairs", "snr_figure",
           "training_curves_figure", "traversal_figure"]
