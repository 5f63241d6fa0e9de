"""Bounds on log p(x) from log-weights ``[K, B]``."""

from vaelab.objectives.bounds import (
    OBJECTIVES,
    effective_sample_size,
    elbo,
    elbo_analytic_kl,
    grouped_iwae_bound,
    iwae_bound,
    normalized_weights,
)

__all__ = ["OBJECTIVES", "effective_sample_size", "elbo", "elbo_analytic_kl",
           "grouped_iwae_bound", "iwae_bound", "normalized_weights"]
