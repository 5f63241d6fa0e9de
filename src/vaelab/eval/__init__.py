"""Evaluation: importance-sampled log-likelihood, bounds, active units, the evaluation recipe."""

from vaelab.eval.active_units import active_units, posterior_means
from vaelab.eval.likelihood import evaluate_bounds, log_weights_matrix
from vaelab.eval.recipes import evaluate, random_subset

__all__ = ["active_units", "evaluate", "evaluate_bounds", "log_weights_matrix",
           "posterior_means", "random_subset"]
