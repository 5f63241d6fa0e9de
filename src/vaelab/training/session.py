"""What the engine (``engine.Engine``) runs every run through: one ``RunSession`` per run
directory, the epoch record, the divergence verdict and the epoch loop with its stopping rules.

A solo run (``trainer.train``) and every run of a grid (``stack_trainer.train_stack``) write their
run directory through a ``RunSession``: validation when due -> best checkpoint -> last checkpoint
(with the record, so a kill before the metrics line loses nothing) -> metrics -> loggers. The
steppers differ (eager, DDP, compiled whole step, vmapped stack); the session does not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from vaelab.errors import DivergenceError
from vaelab.eval.likelihood import evaluate_bounds
from vaelab.models.base import Model
from vaelab.training.callbacks import Callback, start_loggers
from vaelab.training.checkpoint import save_checkpoint
from vaelab.training.config import OptimConfig, RunConfig
from vaelab.training.progress import EpochProgress
from vaelab.training.rundir import RunDir


def make_adam(params, optim: OptimConfig, **kwargs) -> torch.optim.Adam:
    """The one Adam of every run: betas (0.9, 0.999), the run's lr and --adam-eps (``params``:
    parameters, or groups with their own settings, e.g. ``Step.param_groups``)."""
    return torch.optim.Adam(params, lr=optim.lr, betas=(0.9, 0.999), eps=optim.adam_eps,
                            **kwargs)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's learning rate for the main group(s); auxiliary groups keep their own."""
    for g in opt.param_groups:
        if "aux" not in g:
            g["lr"] = lr


@dataclass
class EarlyStopping:
    """The best validation bound so far and how many validations since it improved."""

    patience: int
    best: float = -math.inf
    bad_evals: int = 0

    def update(self, value: float) -> bool:
        """Record a validation bound; True if it is the best so far."""
        if value > self.best:
            self.best, self.bad_evals = value, 0
            return True
        self.bad_evals += 1
        return False

    @property
    def stop(self) -> bool:
        return self.patience > 0 and self.bad_evals >= self.patience


def epoch_record(epoch: int, steps: int, cfg: RunConfig, objective_label: str, bound: float,
                 seconds: float, diagnostics: dict) -> dict:
    """One metrics.jsonl line: epoch (1-based), optimizer steps so far, the epoch's learning
    rate, the mean training bound under its own key, wall seconds and the model's diagnostics."""
    return {"epoch": epoch + 1, "step": steps, "lr": cfg.optim.lr_at(epoch),
            f"train_{objective_label}_k{cfg.estimator.k}": bound, "epoch_seconds": seconds,
            **diagnostics}


def divergence(bad: list[tuple[str, str]], epoch: int, good_epoch: int, resume: str,
               lower: str) -> DivergenceError:
    """The error for runs whose training bound left its sound range in ``epoch`` (0-based):
    ``bad`` names each run (an empty name for a solo run) and what went wrong; ``resume`` is the
    command that continues from the last good checkpoint (epoch ``good_epoch``, 0: none) and
    ``lower`` the lower learning rate to give it."""
    what = "; ".join(f"{n}: {why}" if n else why for n, why in bad)
    kept = (f"the last good checkpoint (epoch {good_epoch}) is kept; continue with a lower "
            f"learning rate: `{resume} {lower}`" if good_epoch else
            f"no epoch finished; start again with a lower learning rate ({lower})")
    return DivergenceError(f"{what} in epoch {epoch + 1}; stopped: {kept}")


@dataclass
class RunSession:
    """One run directory during training: early stopping, best and last checkpoints, metrics
    and loggers, in the order that keeps metrics.jsonl equal to the last checkpoint."""

    cfg: RunConfig
    run: RunDir
    model: Model
    estimator: torch.nn.Module
    warmup_epochs: int
    binarize: bool
    loggers: list[Callback] = field(default_factory=list)
    started: bool = False  # the loggers run and config.json is written

    def __post_init__(self) -> None:
        self.early = EarlyStopping(self.cfg.eval.patience)

    def clear(self, resume: bool) -> None:
        """Before a start: what a killed writer left goes; a fresh start over a finished run
        (``--overwrite``) sets that run aside until the new one has its first checkpoint."""
        self.run.clean_stale()
        if not resume and self.run.has_checkpoint:
            self.run.set_aside()
        elif not resume:
            self.run.clear_unstarted()

    def restore(self, meta: dict) -> None:
        self.early.best, self.early.bad_evals = meta["best"], meta["bad_evals"]

    def due(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) ends with a validation."""
        return (epoch + 1) % self.cfg.eval.eval_every == 0 or epoch + 1 == self.cfg.optim.epochs

    def validate(self, epoch: int, valid_x: torch.Tensor, record: dict) -> None:
        """L_k on the validation split into ``record``; the best checkpoint when it improves."""
        k = self.cfg.eval.eval_k
        v = evaluate_bounds(self.model, valid_x, ks=(k,), binarize=self.binarize)["bounds"][k]
        record[f"valid_L{k}"] = v
        best = self.early.update(v)
        if epoch + 1 < self.warmup_epochs:
            self.early.bad_evals = 0  # the objective still moves: no early stopping yet
        if best:
            save_checkpoint(self.run.best, {"model": self.model}, None,
                            {"epoch": epoch + 1, "valid_bound": v})
        for cb in self.loggers:
            cb.on_validation(epoch + 1, self.model, valid_x[:16])

    def checkpoint(self, epoch: int, steps: int, record: dict,
                   optimizer: torch.optim.Optimizer, rng: dict, **meta) -> None:
        """The last checkpoint (the record inside it), then the metrics line and the loggers."""
        save_checkpoint(self.run.last, {"model": self.model, "estimator": self.estimator},
                        optimizer, {"epoch": epoch + 1, "step": steps, "best": self.early.best,
                                    "bad_evals": self.early.bad_evals, "record": record, **meta},
                        rng, keep_previous=True)
        self.run.drop_aside()  # a replaced run is gone once the new one has a checkpoint
        self.run.append_metrics(record)
        for cb in self.loggers:
            cb.on_epoch_end(record)

    def start(self, doc: dict, source) -> None:
        """Start the loggers (all or none), then write config.json and the model's source."""
        start_loggers(self.loggers, self.run.path, doc)
        self.started = True
        self.run.write_config(doc)
        self.run.copy_model_source(source)

    def end(self, record: dict) -> None:
        """Close the loggers (once)."""
        if self.started:
            self.started = False
            for cb in self.loggers:
                cb.on_end(record)

    def abandon(self, record: dict) -> None:
        """A new run that failed before its first checkpoint: nothing of it stays (its loggers
        closed first), and a run it was replacing comes back."""
        self.end(record)
        self.run.clear_unstarted()
        self.run.restore_aside()


def epoch_loop(start: int, epochs: int, one_epoch: Callable[[int], tuple[dict, bool]], *,
               time_limit: float, bar: EpochProgress, resume: str, patience: int,
               agree: Callable[[bool], bool] = bool) -> str | None:
    """Epochs ``start`` .. ``epochs - 1``; ``one_epoch(e)`` trains, validates and checkpoints
    epoch e and returns (what the progress line shows, whether early stopping says stop).
    Stops early, or after ``time_limit`` minutes (0: none); returns why it stopped early, if it
    did. ``agree``: every process's verdict on a flag (all ranks stop together under DDP);
    ``resume``: the command that continues the run(s)."""
    t_start = time.perf_counter()
    for epoch in range(start, epochs):
        shown, stop = one_epoch(epoch)
        bar.update(epoch + 1, shown)
        if agree(stop):
            bar.write(f"early stopping after epoch {epoch + 1}: no gain in {patience} "
                      "evaluations")
            return "early_stopping"
        out_of_time = time_limit > 0 and time.perf_counter() - t_start > 60 * time_limit
        if epoch + 1 < epochs and agree(out_of_time):
            bar.write(f"--time-limit of {time_limit:g} min reached after epoch {epoch + 1} of "
                      f"{epochs}; checkpoints saved, continue with `{resume}`")
            return "time_limit"
    return None
