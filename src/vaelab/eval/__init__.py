"""Evaluation: importance-sampled log-likelihood, bounds, active units, the evaluation recipe."""

from vaelab.eval.active_units import active_units, posterior_means
from vaelab.eval.likelihood import GroupedBounds, evaluate_bounds, stream_bounds
from vaelab.eval.recipes import evaluate, random_subset

__all__ = ["GroupedBounds", "active_units", "evaluate", "evaluate_bounds", "stream_bounds",
           "posterior_means", "random_subset"]
