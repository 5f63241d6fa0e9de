"""Figures: image grids and plots."""

from vaelab.viz.images import grid, save_grid

__all__ = ["grid", "save_grid"]
