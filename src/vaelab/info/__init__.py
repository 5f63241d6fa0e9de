"""Information theory: discrete and continuous quantities, and VAE information diagnostics."""

from vaelab.info import continuous, discrete
from vaelab.info.continuous import Estimate
from vaelab.info.vae import (
    generative_mi_bound,
    log_aggregate_posterior,
    mutual_information,
    rate_distortion,
    vae_information,
    variational_mi_bound,
)

__all__ = ["Estimate", "continuous", "discrete", "generative_mi_bound", "log_aggregate_posterior",
           "mutual_information", "rate_distortion", "vae_information",
           "variational_mi_bound"]
