"""Figures: image grids and plots (no pyplot, no global backend switch)."""

from vaelab.viz.images import grid, save_grid
from vaelab.viz.plots import per_dimension_kl_figure, save, snr_figure

__all__ = ["grid", "per_dimension_kl_figure", "save", "save_grid", "snr_figure"]
