"""Figures: image grids and plots (no pyplot, no global backend switch)."""

from vaelab.viz.images import grid, save_grid
from vaelab.viz.plots import (
    active_units_kl_figure,
    bounds_figure,
    per_dimension_kl_figure,
    reconstruction_pairs_figure,
    save,
    snr_figure,
    training_curves_figure,
    traversal_figure,
)

__all__ = ["active_units_kl_figure", "bounds_figure", "grid", "per_dimension_kl_figure",
           "reconstruction_pairs_figure", "save", "save_grid", "snr_figure",
           "training_curves_figure", "traversal_figure"]
