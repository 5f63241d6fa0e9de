"""Information theory, pure functions of distributions and tensors: entropy, cross-entropy, KL
and mutual information, discrete and continuous (with Monte Carlo standard errors), and the
mutual information carried by a Gaussian encoder's posteriors. The diagnostics of a trained
model (``vae_information``) build on them in :mod:`vaelab.eval.information`."""

from vaelab.info import continuous, discrete
from vaelab.info.continuous import (
    log_aggregate_posterior,
    mutual_information,
    variational_mi_bound,
)
from vaelab.stats import Estimate

__all__ = ["Estimate", "continuous", "discrete", "log_aggregate_posterior",
           "mutual_information", "variational_mi_bound"]
