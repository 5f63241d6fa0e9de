"""Training objectives: immutable functions of an estimator's :class:`Samples` -> ``[B]``.

An objective says what to maximise; an estimator says how its gradient is estimated. Schedules
(KL warm-up) are not state: ``objective.at_epoch(e)`` returns the objective of epoch e.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from vaelab.objectives.samples import Samples
from vaelab.registry import Registry

OBJECTIVES = Registry("objective")


class Objective(ABC):
    """Per-example objective ``[B]``; ``bound`` is the variational bound it estimates and reports.

    ``log_w_only``: the objective is a function of the log-weights alone (so score-function
    estimators, which need per-sample learning signals, apply)."""

    name: str = ""
    log_w_only: bool = True
    split_gradients: bool = False  # ``inference_bound`` differs from the objective (PIWAE)

    @abstractmethod
    def __call__(self, s: Samples) -> torch.Tensor:
        """The value to maximise, ``[B]`` (differentiable)."""

    @abstractmethod
    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        """The bound on log p(x) this objective trains, from log-weights ``[K, B]`` -> ``[B]``."""

    def inference_bound(self, log_w: torch.Tensor) -> torch.Tensor | None:
        """The bound whose phi-gradient trains the encoder when it is not the objective itself
        (PIWAE: L_{MK} for the decoder, MIWAE(M, K) for the encoder); None: the same."""
        return None

    def check(self, model) -> None:  # noqa: B027 - optional, most objectives fit every model
        """Raise a ConfigError if this objective cannot train ``model`` (read from its declared
        capabilities, before anything runs)."""

    def check_samples(self, K: int) -> None:  # noqa: B027 - optional, most accept any K
        """Raise a ConfigError if this objective cannot use K draws per example."""

    def at_epoch(self, epoch: int) -> Objective:
        """The objective in force during (0-based) ``epoch``; constant objectives return self."""
        return self

    @property
    def warmup_epochs(self) -> int:
        """Epochs during which ``at_epoch`` changes the objective (a KL warm-up); early stopping
        starts counting after them. 0: none."""
        return 0

    @property
    def label(self) -> str:
        """A short name for metrics (``train_elbo_k1``)."""
        return self.name
