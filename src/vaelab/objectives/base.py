"""Training objectives: immutable functions of an estimator's :class:`Samples` -> ``[B]``.

An objective says what to maximise; an estimator says how its gradient is estimated. Schedules
(KL warm-up) are not state: ``objective.at_epoch(e)`` returns the objective of epoch e.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from vaelab.objectives.samples import Samples

__all__ = ["OBJECTIVES", "Objective"]
from vaelab.registry import Registry

OBJECTIVES = Registry("objective")


class Objective(ABC):
    """Per-example objective ``[B]``; ``bound`` is the variational bound it estimates and reports.

    ``log_w_only``: the objective is a function of the log-weights alone.
    ``importance_weighted``: the bound is L_K = log (1/K) sum_k w_k itself, whose gradient
    weighs draw k by its normalized weight (what DReG and reweighted wake-sleep are built on).
    Score-function estimators ask the objective for its learning signal
    (``learning_signal``, ``leave_one_out``) instead of asking what it is."""

    name: str = ""
    log_w_only: bool = True
    split_gradients: bool = False  # ``inference_bound`` differs from the objective (PIWAE)
    importance_weighted: bool = False

    def learning_signal(self, log_w: torch.Tensor) -> tuple[torch.Tensor, float] | None:
        """(signal ``[K, B]``, scale): the score-function gradient of the bound is
        sum_k scale * signal_k * grad log q(z_k|x) (plus the bound's direct path). None when
        the objective has no such form (a reweighted ELBO, free bits)."""
        return None

    def leave_one_out(self, log_w: torch.Tensor) -> torch.Tensor:
        """Per draw k, the learning signal with draw k left out (``[K, B]``): the baseline of
        VIMCO / RLOO. Needs K >= 2."""
        raise NotImplementedError(f"{self.name} has no leave-one-out baseline")

    @abstractmethod
    def __call__(self, s: Samples) -> torch.Tensor:
        """The value to maximise, ``[B]`` (differentiable)."""

    @abstractmethod
    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        """The bound on log p(x) this objective trains, from log-weights ``[K, B]`` -> ``[B]``."""

    def inference_bound(self, log_w: torch.Tensor) -> torch.Tensor:
        """The bound whose phi-gradient trains the encoder: the objective's own bound, except
        where ``split_gradients`` (PIWAE: L_{MK} for the decoder, MIWAE(M, K) for the
        encoder)."""
        return self.bound(log_w)

    def check(self, model) -> None:  # noqa: B027 - optional, most objectives fit every model
        """Raise a ConfigError if this objective cannot train ``model`` (read from its declared
        capabilities, before anything runs)."""

    def check_samples(self, K: int) -> None:  # noqa: B027 - optional, most accept any K
        """Raise a ConfigError if this objective cannot use K draws per example."""

    def at_epoch(self, epoch: int, device: torch.device | str | None = None) -> Objective:
        """The objective in force during (0-based) ``epoch``; constant objectives return self.
        A weight that the schedule moves is a tensor on ``device`` (None: a float), so that a
        compiled step reads it as an input and keeps one graph for the whole schedule."""
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
