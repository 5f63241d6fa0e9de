"""Evaluation: importance-sampled log-likelihood and bounds, annealed importance sampling and
BDMC, local variational inference and the inference gaps, importance sampling as a tool, active
units, the evaluation recipe."""

from vaelab.eval.active_units import active_units, posterior_means
from vaelab.eval.ais import AISConfig, ais, anneal
from vaelab.eval.bdmc import bdmc, simulate
from vaelab.eval.gaps import decompose, inference_gaps
from vaelab.eval.importance import importance_sampling, log_evidence, model_log_evidence
from vaelab.eval.information import (
    encoder_params,
    generative_mi_bound,
    rate_distortion,
    vae_information,
)
from vaelab.eval.likelihood import GroupedBounds, evaluate_bounds, stream_bounds
from vaelab.eval.local_vi import LocalVIConfig, local_vi
from vaelab.eval.recipes import evaluate, paired_difference, random_subset, subset_index

__all__ = ["AISConfig", "GroupedBounds", "LocalVIConfig", "active_units", "ais", "anneal",
           "bdmc", "decompose", "encoder_params", "evaluate", "evaluate_bounds",
           "generative_mi_bound", "importance_sampling", "rate_distortion", "vae_information",
           "inference_gaps", "local_vi", "log_evidence", "model_log_evidence",
           "paired_difference", "posterior_means", "random_subset", "simulate", "stream_bounds",
           "subset_index"]
