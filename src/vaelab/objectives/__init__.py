"""Bounds on log p(x) as pure functions of log-weights ``[K, B]``, and training objectives."""

from vaelab.objectives.base import OBJECTIVES, Objective
from vaelab.objectives.bounds import (
    ciwae_bound,
    effective_sample_size,
    elbo,
    elbo_analytic_kl,
    grouped_iwae_bound,
    iwae_bound,
    miwae_bound,
    normalized_weights,
    renyi_bound,
)
from vaelab.objectives.elbo_objective import ELBO, ELBOConfig, per_dimension_kl
from vaelab.objectives.iwae_objective import IWAE, IWAEConfig
from vaelab.objectives.multi_sample import CIWAE, MIWAE, PIWAE, Renyi
from vaelab.objectives.samples import Samples
from vaelab.objectives.tc_objective import TCVAE, total_correlation


def make_objective(name: str, **options) -> Objective:
    """An objective by registry name with its options (e.g. ``make_objective("elbo", beta=4)``)."""
    from vaelab.registry import build_config

    entry = OBJECTIVES.get(name)
    return entry.target(build_config(entry.config, options, f"objective {name}"))


__all__ = ["CIWAE", "ELBO", "IWAE", "MIWAE", "OBJECTIVES", "PIWAE", "ELBOConfig", "IWAEConfig",
           "Objective", "Renyi", "Samples", "TCVAE", "ciwae_bound", "effective_sample_size", "elbo",
           "elbo_analytic_kl", "grouped_iwae_bound", "iwae_bound", "make_objective",
           "miwae_bound", "normalized_weights", "per_dimension_kl", "renyi_bound",
           "total_correlation"]
