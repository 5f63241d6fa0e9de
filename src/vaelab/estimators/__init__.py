"""Gradient estimators: each draws the samples, and gives the objective's value and surrogates
whose gradients are the estimate (separately for theta and phi; ``Estimator.terms``)."""

from vaelab.errors import ConfigError
from vaelab.estimators.base import ESTIMATORS, Estimator, EstimatorOutput, Terms, score
from vaelab.estimators.baselines import BASELINES, NVIL, Baseline, LeaveOneOut, RunningMean
from vaelab.estimators.pathwise import STL, DReG, Reparam
from vaelab.estimators.relaxed import (
    REBAR,
    RELAX,
    GumbelSoftmax,
    REBARConfig,
    RELAXConfig,
    RelaxedConfig,
    StraightThrough,
)
from vaelab.estimators.score_function import ScoreFunction, ScoreFunctionConfig
from vaelab.estimators.wake_sleep import ReweightedWakeSleep
from vaelab.registry import build_config


def make_estimator(name: str, K: int = 1, x_dim: int | None = None, **options) -> Estimator:
    """An estimator by registry name with its options, e.g.
    ``make_estimator("score_function", K=5, baseline="vimco")``. ``x_dim`` (the size of one
    example) is needed by the NVIL baseline only."""
    entry = ESTIMATORS.get(name)
    return entry.target(K, build_config(entry.config, options, f"estimator {name}"), x_dim)


__all__ = ["BASELINES", "ESTIMATORS", "NVIL", "REBAR", "RELAX", "RELAXConfig", "STL",
           "Baseline", "ConfigError", "DReG",
           "Estimator", "EstimatorOutput", "GumbelSoftmax", "LeaveOneOut", "REBARConfig",
           "RelaxedConfig", "ReweightedWakeSleep",
           "Reparam", "RunningMean", "ScoreFunction", "ScoreFunctionConfig", "StraightThrough",
           "Terms", "make_estimator", "score"]
