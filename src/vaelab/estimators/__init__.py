"""Gradient estimators for the inference network (the decoder always takes the pathwise one)."""

from vaelab.errors import ConfigError
from vaelab.estimators.base import Estimator, EstimatorOutput
from vaelab.estimators.baselines import BASELINES, NVIL, Baseline, LeaveOneOut, RunningMean
from vaelab.estimators.pathwise import STL, DReG, Reparam
from vaelab.estimators.score_function import ScoreFunction

ESTIMATORS = {"reparam": Reparam, "score_function": ScoreFunction, "stl": STL, "dreg": DReG}


def make_estimator(name: str, objective: str, K: int, baseline: str = "none",
                   x_dim: int | None = None) -> Estimator:
    """Build an estimator by name (see ``ESTIMATORS``)."""
    if name not in ESTIMATORS:
        raise ConfigError(f"unknown estimator '{name}': choose one of {', '.join(ESTIMATORS)}")
    if name == "score_function":
        return ScoreFunction(objective, K, baseline, x_dim)
    if baseline != "none":
        raise ConfigError(f"--baseline applies to the score_function estimator, not {name}")
    return ESTIMATORS[name](objective, K)


__all__ = ["BASELINES", "ESTIMATORS", "NVIL", "STL", "Baseline", "DReG", "Estimator",
           "EstimatorOutput", "LeaveOneOut", "Reparam", "RunningMean", "ScoreFunction",
           "make_estimator"]
