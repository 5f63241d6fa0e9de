"""Evaluation: importance-sampled log-likelihood, bounds and active units."""

from vaelab.eval.active_units import active_units, posterior_means
from vaelab.eval.likelihood import evaluate_bounds, log_weights_matrix

__all__ = ["active_units", "evaluate_bounds", "log_weights_matrix", "posterior_means"]
