"""Seconds per training step and per epoch of a configuration, by setting (threads, eager or
compiled), measured on this machine: the projection table of ``vaelab reproduce`` and the
setting it trains with.

A step is timed exactly as ``vaelab train`` runs it (the same parts, Adam, eager
``EagerUpdate`` or compiled ``WholeStep``) on real batches, after untimed warm-up steps (which
include the compilation). An epoch is ``ceil(N / batch)`` steps plus one validation pass every
``eval_every`` epochs (timed once).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from vaelab.training.config import RunConfig


@dataclass(frozen=True)
class Setting:
    threads: int
    compile: str = ""  # "" (eager) or a torch.compile mode

    @property
    def label(self) -> str:
        return f"{self.threads} thread{'s' * (self.threads > 1)}, " + \
            (f"compiled ({self.compile})" if self.compile else "eager")


@dataclass(frozen=True)
class Timing:
    setting: Setting
    step_seconds: float
    validation_seconds: float
    steps_per_epoch: int
    eval_every: int

    @property
    def epoch_seconds(self) -> float:
        return self.steps_per_epoch * self.step_seconds + self.validation_seconds / self.eval_every

    def to_dict(self) -> dict:
        return {**asdict(self.setting), "label": self.setting.label,
                "step_seconds": self.step_seconds, "validation_seconds": self.validation_seconds,
                "steps_per_epoch": self.steps_per_epoch, "eval_every": self.eval_every,
                "epoch_seconds": self.epoch_seconds}

    @classmethod
    def from_dict(cls, d: dict) -> Timing:
        return cls(Setting(d["threads"], d["compile"]), d["step_seconds"],
                   d["validation_seconds"], d["steps_per_epoch"], d["eval_every"])


COMPILE_CHOICES = ("auto", "off", "default")


def candidate_settings(max_threads: int | None = None, compile: str = "auto") -> list[Setting]:
    """1 thread and ``max_threads`` (default: all of this process's), eager and compiled
    (``compile``: auto, both; off, eager only; default, compiled only)."""
    top = max_threads or torch.get_num_threads()
    modes = {"auto": ("", "default"), "off": ("",), "default": ("default",)}[compile]
    return [Setting(t, c) for t in sorted({1, top}) for c in modes]


def time_setting(cfg: RunConfig, setting: Setting, data=None, steps: int = 20,
                 warmup: int = 3, min_seconds: float = 2.0) -> Timing:
    """Time at least ``steps`` training steps of ``cfg`` under ``setting``, and at least
    ``min_seconds`` of them (short steps are noisy); threads restored after."""
    from vaelab.data import TensorBatches
    from vaelab.eval.likelihood import evaluate_bounds
    from vaelab.training.loop import EagerUpdate, Step
    from vaelab.training.trainer import build_parts
    from vaelab.training.whole_step import WholeStep

    before = torch.get_num_threads()
    torch.set_num_threads(setting.threads)
    try:
        torch.manual_seed(cfg.runtime.seed)
        parts = build_parts(cfg, data=data)
        parts.model.init_from_data(parts.data.train_mean())
        step = Step(parts.model, parts.estimator,
                    parts.objective.at_epoch(0, next(parts.model.parameters()).device))
        whole = bool(setting.compile)
        opt = torch.optim.Adam(step.parameters(), lr=cfg.optim.lr, eps=cfg.optim.adam_eps,
                               fused=not whole, capturable=whole)
        update = (WholeStep(step, opt, setting.compile, normalize=cfg.optim.normalize_grads)
                  if whole else EagerUpdate(step, opt, normalize=cfg.optim.normalize_grads))
        batches = iter(TensorBatches(parts.data.train, cfg.optim.batch_size, shuffle=True,
                                     dynamic_binarize=parts.data.dynamic_binarize,
                                     generator=torch.Generator().manual_seed(0)))
        xs = [next(batches) for _ in range(min(steps + warmup,
                                               len(parts.data.train) // cfg.optim.batch_size))]
        for i in range(warmup):
            update(xs[i % len(xs)])
        t0, done = time.perf_counter(), 0
        while done < steps or time.perf_counter() - t0 < min_seconds:
            update(xs[(warmup + done) % len(xs)])
            done += 1
        step_s = (time.perf_counter() - t0) / done
        t0 = time.perf_counter()
        evaluate_bounds(parts.model, parts.data.valid, ks=(cfg.eval.eval_k,),
                        binarize=parts.data.dynamic_binarize)
        valid_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)
    return Timing(setting, step_s, valid_s, math.ceil(len(parts.data.train) /
                                                      cfg.optim.batch_size),
                  cfg.eval.eval_every)


def fastest(timings: list[Timing]) -> Timing:
    return min(timings, key=lambda t: t.epoch_seconds)
