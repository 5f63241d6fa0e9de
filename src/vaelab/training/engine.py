"""The one training loop. Every run is trained by an ``Engine``: a solo run (``vaelab train``) is
a stack of one, a grid (``vaelab train-stack``) a set of stacks. The engine drives steppers, each
training a group of runs one batch at a time (a solo run: eager, under DDP, or as one compiled
step; a grid: a vmapped stack per architecture), and writes each run directory through its
``RunSession``.

Per epoch: every stepper sets its runs' learning rates and objectives; every batch goes to every
stepper, each in its own stream of random numbers when there are several (so that each run
draws what it would draw alone); the divergence verdict covers every run; then each run
validates when due (the runs of a stack on the same draws) and writes its last checkpoint,
metrics line and logs.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

import vaelab.training.distributed as distributed
from vaelab.eval.baseline import Guard
from vaelab.objectives import Objective
from vaelab.training.progress import EpochProgress
from vaelab.training.session import RunSession, divergence, epoch_loop, epoch_record


def device_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """torch's global random state (and the GPU's, on one)."""
    st = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def set_device_rng_state(st: dict, device: torch.device) -> None:
    torch.set_rng_state(st["torch"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


def run_epoch(steppers: Sequence[Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]],
              batches, device: torch.device, rngs: list[dict] | None = None,
              binarize: bool = False) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], int]:
    """One pass over ``batches``: each batch (binarized, with ``binarize``, by a Bernoulli draw
    in each stepper's stream) to every stepper, one optimizer step each. With several steppers
    each draws from its own device stream ``rngs[g]`` (kept up to date here). Sums stay on the
    device (no host synchronization per step). Returns each stepper's (loss sum, bound sum) and
    the number of steps."""
    sums: list[tuple[torch.Tensor, torch.Tensor]] = []
    several = len(steppers) > 1
    n = 0
    for x in batches:
        for g, st in enumerate(steppers):
            if several and rngs is not None:
                set_device_rng_state(rngs[g], device)
            loss, bound = st(torch.bernoulli(x) if binarize else x)
            if several and rngs is not None:
                rngs[g] = device_rng_state(device)
            if n == 0:  # copies: a CUDA-graph step's outputs are overwritten by its next replay
                sums.append((loss.clone(), bound.clone()))
            else:
                sums[g] = (sums[g][0] + loss, sums[g][1] + bound)
        n += 1
    return sums, n


class Stepper(ABC):
    """Trains the runs ``members`` (indices into the engine's runs) one batch at a time."""

    members: list[int]

    @abstractmethod
    def start_epoch(self, epoch: int) -> None:
        """Every member's learning rate and objective for epoch ``epoch`` (0-based); training
        mode."""

    @abstractmethod
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step of every member on batch ``x``: the detached (loss, bound), each
        ``[len(members)]``."""

    def end_epoch(self) -> None:  # noqa: B027 - only a stack has work to do here
        """After the epoch's last step: each member's weights in its own modules."""

    @abstractmethod
    def optimizer(self, j: int) -> torch.optim.Optimizer:
        """What member ``j``'s checkpoint stores as its optimizer."""


@dataclass
class Engine:
    """The runs (``sessions``, with their ``objectives``; ``names`` empty for a solo run), the
    steppers that train them with each one's device random stream (``rngs``; none given: one
    stepper on the device's current stream), the shuffling generator shared by all, the
    divergence ``guard``, and the commands that continue the runs: ``resume`` (all of them)
    and ``resume_run`` (one run, after a divergence)."""

    sessions: list[RunSession]
    objectives: list[Objective]
    names: list[str]
    steppers: list[Stepper]
    rngs: list[dict]
    shuffle: torch.Generator
    guard: Guard
    device: torch.device
    resume: str
    resume_run: str
    dinfo: distributed.DistInfo = field(default_factory=distributed.DistInfo)
    stack: bool = False  # checkpoints say they were written by a grid
    epoch: int = 0
    steps: int = 0

    def run(self, batches, valid_x: torch.Tensor, binarize: bool, progress: bool,
            records: list[dict], desc: str = "train") -> list[dict]:
        """Epochs ``self.epoch`` .. the last (or early stopping, or the time limit): each run's
        last record. ``records``: what a finished run resumed returns as it is."""
        cfg, main = self.sessions[0].cfg, self.dinfo.is_main
        if not self.rngs:
            self.rngs = [device_rng_state(self.device)]
        if len(self.steppers) == 1:  # one stream: it runs on the device's own, from here
            set_device_rng_state(self.rngs[0], self.device)

        def one_epoch(epoch: int) -> tuple[dict, bool]:
            nonlocal records
            records = self._train_epoch(epoch, batches, binarize)
            if main:
                self._end_of_epoch(epoch, records, valid_x)
            self.epoch = epoch + 1
            stop = all(s.early.stop for s in self.sessions)
            return (records[0] if len(records) == 1 else {}), main and stop

        bar = EpochProgress(self.epoch, cfg.optim.epochs, progress and main, desc, speak=main)
        stopped = epoch_loop(self.epoch, cfg.optim.epochs, one_epoch,
                             time_limit=cfg.runtime.time_limit, bar=bar, resume=self.resume,
                             patience=cfg.eval.patience,
                             agree=lambda flag: distributed.broadcast_flag(flag, self.dinfo,
                                                                           self.device))
        bar.close()
        if stopped == "time_limit":
            for r in records:
                r["stopped"] = stopped
        return records

    def _train_epoch(self, epoch: int, batches, binarize: bool) -> list[dict]:
        """One pass over the training data by every stepper; each run's record."""
        t0 = time.perf_counter()
        for st in self.steppers:
            st.start_epoch(epoch)
        sums, n = run_epoch(self.steppers, batches, self.device, self.rngs, binarize)
        self.steps += n
        per_run: list[tuple[float, float]] = [(0.0, 0.0)] * len(self.sessions)
        for st, (loss_sum, bound_sum) in zip(self.steppers, sums):
            for j, (ls, b) in enumerate(zip((loss_sum / n).tolist(), (bound_sum / n).tolist())):
                per_run[st.members[j]] = (ls, b)
        bad = [(name, why) for name, (ls, b) in zip(self.names, per_run)
               if (why := self.guard.check(ls, b)) is not None]
        if not distributed.all_true(not bad, self.dinfo, self.device):
            lr = self.sessions[0].cfg.optim.lr_at(epoch) / 10
            raise divergence(bad or [("", "another process diverged")], epoch, self.epoch,
                             self.resume_run,
                             f"--lr {lr:.3g}" if len(self.sessions) == 1 else "--lr ...")
        for st in self.steppers:
            st.end_epoch()
        seconds = time.perf_counter() - t0
        return [epoch_record(epoch, self.steps, s.cfg, obj.label, b, seconds,
                             s.model.training_diagnostics())
                for s, obj, (_, b) in zip(self.sessions, self.objectives, per_run)]

    def _end_of_epoch(self, epoch: int, records: list[dict], valid_x: torch.Tensor) -> None:
        """Validation when due (every run of a stack on its stack's draws), then each run's
        last checkpoint with its stepper's stream."""
        if len(self.steppers) == 1:
            self.rngs[0] = device_rng_state(self.device)
        for g, st in enumerate(self.steppers):
            before = after = self.rngs[g]
            for j, i in enumerate(st.members):
                if not self.sessions[i].due(epoch):
                    break
                set_device_rng_state(before, self.device)
                self.sessions[i].validate(epoch, valid_x, records[i])
                if j == 0:
                    after = device_rng_state(self.device)
            self.rngs[g] = after
            rng = {**after, "shuffle": self.shuffle.get_state()}
            meta = {"stack": True} if self.stack else {}
            for j, i in enumerate(st.members):
                self.sessions[i].checkpoint(epoch, self.steps, records[i], st.optimizer(j),
                                            rng, **meta)
        if len(self.steppers) == 1:
            set_device_rng_state(self.rngs[0], self.device)
