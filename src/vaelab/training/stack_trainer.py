"""Training a grid of runs in one process: runs that share an architecture, K and objective are
one stacked model (one vmapped, and with ``--compile`` one compiled, step per batch); every
stack steps on the same batches; each run is written to its own run directory.

    train_stack(cfg, "runs/grid", {"seed": [0, 1], "lr": [1e-3, 3e-4], "k": [1, 5]})
        -> runs/grid/k1_seed0_lr0.001/, k1_seed0_lr0.0003/, ..., k5_seed1_lr0.0003/, stack.json

The grid may vary the seed, the learning rate and its schedule, and any option of the model, the
objective and the estimator (``k``, ``objective``, ``layers``, ``beta``, ...); runs that differ
only in seed and learning rate share one stack (``StackedRuns``), the others are separate
stacks in the same loop. Each run directory is a complete run (config.json, checkpoints with
the run's own Adam state, metrics.jsonl, tb/): ``vaelab eval``, ``vaelab.load_run`` and
``vaelab train --resume`` take it like a solo run's.

Random numbers: every stack draws from its own stream, started as its first run's solo run
starts it, and all its runs share those draws (common random numbers); the data order is shared
by all. So every run with the grid's first seed is exactly the solo run ``vaelab train`` with
its options (a test checks it); the others differ from their solo runs in the draws alone.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vaelab.data.batches import TensorBatches
from vaelab.data.dataset import ImageDataset
from vaelab.errors import ConfigError
from vaelab.eval.baseline import divergence_guard
from vaelab.memory import check_training_fits
from vaelab.models.registry import source_file
from vaelab.objectives import Objective
from vaelab.training.callbacks import make_loggers
from vaelab.training.checkpoint import (
    load_checkpoint,
    load_latest,
    previous,
    restore,
)
from vaelab.training.config import RunConfig, option_catalogue, option_value, split_assignment
from vaelab.training.engine import Engine, Stepper, device_rng_state
from vaelab.training.loop import Step
from vaelab.training.rundir import RunDir
from vaelab.training.session import RunSession, make_adam
from vaelab.training.stacked import StackedRuns
from vaelab.training.trainer import (
    Parts,
    build_parts,
    config_document,
    resolve_device,
    resume_config,
)

MANIFEST = "stack.json"
_PER_RUN = ("seed", "lr", "schedule")  # what runs of one stack may differ in
Grid = dict[str, list]


def check_grid(grid: Grid) -> None:
    """The grid's options exist, may vary between runs of one process, and repeat no value."""
    if not grid or any(not values for values in grid.values()):
        raise ConfigError("a grid needs at least one option with at least one value, e.g. "
                          "--grid seed=0,1,2 lr=1e-3,3e-4")
    cat = option_catalogue()
    for name, values in grid.items():
        opt = cat.get(name)
        if opt is None:
            raise ConfigError(f"--grid {name}: no such option (see vaelab train --help)")
        if not (name in _PER_RUN or opt.section in ("model", "objective", "estimator")
                or opt.component in ("model", "objective", "estimator")) \
                or isinstance(opt.default, (dict, tuple)):
            raise ConfigError(f"--grid {name}: the runs of a stack share it (data, batches, "
                              "epochs, evaluation and runtime are shared); a grid varies the "
                              "seed, lr, schedule and the model's, objective's and estimator's "
                              "options")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {name} repeats a value ({values}): a repeated run would "
                              "overwrite its twin")


def parse_grid(items: list[str]) -> Grid:
    """``["k=1,5,50", "objective=elbo,iwae"]`` -> ``{"k": [1, 5, 50], "objective": [...]}``,
    each value of the option's type."""
    grid: Grid = {}
    for item in items:
        name, text = split_assignment(item, "--grid", "NAME=V1,V2,... (e.g. k=1,5,50)")
        if name in grid:
            raise ConfigError(f"--grid names {name} twice; list its values once")
        grid[name] = [option_value(name, v, "--grid") for v in text.split(",")]
    check_grid(grid)
    return grid


def run_name(point: dict) -> str:
    """A run's directory name from its grid values: ``k5_objective-iwae_seed0_lr0.001``."""
    parts = []
    for name, v in point.items():
        if isinstance(v, bool):
            parts.append(name if v else f"no-{name}")
        elif isinstance(v, (int, float)):
            parts.append(f"{name}{v:g}")
        else:
            parts.append(f"{name}-{re.sub(r'[^A-Za-z0-9.+-]', '-', str(v))}")
    return "_".join(parts)


def _check_process(cfg: RunConfig) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("a stack trains its runs in one process: start it without torchrun")
    if cfg.eval.patience:
        raise ConfigError("a stack trains every run for --epochs; early stopping would stop its "
                          "runs at different epochs: use --patience 0 (the best checkpoint of "
                          "each run is kept anyway)")


def train_stack(cfg: RunConfig | None, out: str | Path, grid: Grid | list[dict] | None = None,
                *, resume: bool = False, changes: dict | None = None,
                progress: bool = True) -> dict[str, dict]:
    """Train every point of ``grid`` over ``cfg`` into ``out``/NAME run directories (NAME =
    ``run_name``); return each run's last metrics record by NAME. ``grid`` is option -> values
    (their product, first option outermost) or a list of points (option -> value each). With
    ``resume``, the grid in ``out`` continues (``changes`` may change what a resumed run may
    change, e.g. ``{"epochs": 50}``)."""
    out = Path(out)
    cfgs, names = _stored(out, changes or {}) if resume else _new_grid(cfg, out, grid)
    _check_process(cfgs[0])
    for c in cfgs[1:]:
        if c.data != cfgs[0].data or c.optim.batch_size != cfgs[0].optim.batch_size or \
                c.optim.epochs != cfgs[0].optim.epochs:
            raise ConfigError("the runs of a stack share the data, --batch-size and --epochs")
    runs = [RunDir(out / n) for n in names]
    stack = RunDir(out)  # one process per stack: two grids into one folder cannot interleave
    stack.lock()
    try:
        if not resume and (out / MANIFEST).is_file():  # again, under the lock
            raise ConfigError(f"{out} already holds a stack; continue it with --resume, or "
                              "give another --out")
        if resume and not all(r.has_checkpoint for r in runs):
            # killed before every run had its first checkpoint: the grid starts again
            for r in runs:
                r.settle()
                r.clear_unstarted()
            resume = False
        for run in runs:
            run.check(resume, overwrite=False)
        records = _Trainer(cfgs, names, runs, out, resume).train(progress)
    finally:
        stack.unlock(discard=not (out / MANIFEST).is_file())
    return dict(zip(names, records))


def _new_grid(cfg: RunConfig | None, out: Path, grid: Grid | list[dict] | None
              ) -> tuple[list[RunConfig], list[str]]:
    """The configurations and names of a new grid's runs, and ``out`` checked free for it."""
    if cfg is None or not grid:
        raise ConfigError("give the base configuration and the grid of the runs")
    if isinstance(grid, dict):
        check_grid(grid)
        points = [dict(zip(grid, vs)) for vs in itertools.product(*grid.values())]
    else:
        points = list(grid)
        check_grid({k: list(dict.fromkeys(p[k] for p in points)) for k in points[0]})
    names = [run_name(p) for p in points]
    if len(set(names)) != len(names):
        raise ConfigError("the grid repeats a run; list each point once")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory for the runs")
    if RunDir(out).holds_run:
        raise ConfigError(f"--out {out} holds a run of `vaelab train`; give the grid a "
                          "directory of its own")
    if (out / MANIFEST).is_file():
        raise ConfigError(f"{out} already holds a stack; continue it with --resume, or give "
                          "another --out")
    return [RunConfig.from_options(p, cfg) for p in points], names


def _stored(out: Path, changes: dict) -> tuple[list[RunConfig], list[str]]:
    try:
        names = json.loads((out / MANIFEST).read_text())["runs"]
    except FileNotFoundError:
        raise ConfigError(f"--resume: {out} holds no stack (no {MANIFEST}); start it without "
                          "--resume") from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{out / MANIFEST} is corrupt ({e}); resume its runs one by one with "
                          "`vaelab train --resume`") from None
    return [resume_config(RunConfig.load(out / n), changes) for n in names], names


def _stack_key(cfg: RunConfig) -> str:
    """Runs with equal keys share a stack: everything but the per-run settings."""
    d = cfg.effective()
    for name in _PER_RUN:
        d.pop(name)
    return json.dumps(d, sort_keys=True, default=str)


@dataclass
class _Group:
    """One stack: indices into the runs, the stacked model, and its stream of random numbers."""

    members: list[int]
    rng: dict = field(default_factory=dict)
    stacked: StackedRuns = field(init=False)  # built once every run's parts are


class _Trainer:
    def __init__(self, cfgs: list[RunConfig], names: list[str], runs: list[RunDir], out: Path,
                 resume: bool) -> None:
        self.cfgs, self.names, self.runs, self.out, self.resume = cfgs, names, runs, out, resume
        if cfgs[0].optim.normalize_grads:
            raise ConfigError("--normalize-grads is for solo runs (`vaelab train`): a stack's "
                              "gradients are not normalised per run")
        self.device = resolve_device(cfgs[0].runtime.device)
        keys: dict[str, _Group] = {}
        for i, c in enumerate(cfgs):
            keys.setdefault(_stack_key(c), _Group([])).members.append(i)
        self.groups = list(keys.values())
        self.shuffle = torch.Generator().manual_seed(cfgs[0].runtime.seed)
        self.parts: list[Parts] = []
        data: ImageDataset | None = None
        firsts = {g.members[0]: g for g in self.groups}
        for i, (c, run) in enumerate(zip(cfgs, runs)):
            # each run is built exactly as `vaelab train` builds it: its seed, then its parts
            torch.manual_seed(c.runtime.seed)
            stored = run.read_doc()["model"] if resume else None
            p = build_parts(c, None, data, stored, run.path if resume else None)
            data = p.data
            if i == 0:
                self.guard = divergence_guard(data, p.likelihood)
            if not resume:
                p.model.init_from_data(data.train_mean())
            self.parts.append(p)
            if i in firsts:  # the stack's draws continue its first run's stream
                firsts[i].rng = device_rng_state(self.device)
        assert data is not None  # cfgs is not empty
        self.data: ImageDataset = data
        self.steps = [Step(p.model, p.estimator, p.objective).to(self.device)
                      for p in self.parts]
        self.opts = [make_adam(s.parameters(), c.optim) for s, c in zip(self.steps, cfgs)]
        self.sessions = [RunSession(c, run, p.model, p.estimator, p.objective.warmup_epochs,
                                    data.dynamic_binarize, make_loggers(c.runtime.loggers))
                         for c, run, p in zip(cfgs, runs, self.parts)]
        self.epoch = self.n_steps = 0
        self.metas: list[dict] | None = None
        if resume:
            self._restore(firsts)
        probe = data.train[:2].to(self.device)
        probe = (probe > 0.5).to(probe.dtype) if data.dynamic_binarize else probe
        for g in self.groups:  # memory: all the stack's runs at once (so each one, too)
            c = cfgs[g.members[0]]
            check_training_fits(self.parts[g.members[0]].model, data.train[:1], c.estimator.k,
                                c.optim.batch_size * len(g.members), self.device,
                                data_bytes=data.train.nbytes + data.valid.nbytes)
            g.stacked = StackedRuns([self.steps[i] for i in g.members],
                                    [cfgs[i].optim.lr_at(self.epoch) for i in g.members],
                                    eps=c.optim.adam_eps, compile=c.runtime.compile)
            g.stacked.check(probe)
            if resume:
                g.stacked.load_optimizer_states([self.opts[i] for i in g.members])

    def _restore(self, firsts: dict[int, _Group]) -> None:
        """Each run from its checkpoint at the epoch every run has: the grid checkpoints its
        runs one after another, so a kill can leave some a step ahead; those go back to the
        checkpoint before (kept beside the last), and the next epoch recomputes the same."""
        latest = [load_latest(run.last)[:2] for run in self.runs]
        target = min(h["meta"]["epoch"] for _, h in latest)
        metas = []
        for i, (run, p, opt) in enumerate(zip(self.runs, self.parts, self.opts)):
            tensors, header = latest[i]
            if header["meta"]["epoch"] > target:
                # a step ahead by the grid's own hand (not trained on alone): its previous
                # checkpoint is the common epoch
                prev = previous(run.last)
                by_stack = header["meta"].get("stack") and prev.is_file()
                loaded = load_checkpoint(prev) if by_stack else None
                if loaded is None or loaded[1]["meta"]["epoch"] != target:
                    raise ConfigError(f"the stack's runs stopped at different epochs ({target} "
                                      f"and {latest[i][1]['meta']['epoch']}: {run.path.name} "
                                      "was trained on alone); resume the runs one by one with "
                                      "`vaelab train --resume`")
                tensors, header = loaded
            rng = restore(tensors, header, {"model": p.model, "estimator": p.estimator}, opt)
            if i == 0:
                self.shuffle.set_state(rng["shuffle"])
            if i in firsts:
                firsts[i].rng = {k: v for k, v in rng.items() if k != "shuffle"}
            metas.append(header["meta"])
        self.epoch, self.n_steps = metas[0]["epoch"], metas[0]["step"]
        for session, meta in zip(self.sessions, metas):
            session.restore(meta)
        self.metas = metas

    def _lock_all(self) -> None:
        locked: list[RunDir] = []
        try:
            for run in self.runs:
                run.lock()
                locked.append(run)
        except BaseException:  # another process trains one of these runs: touch nothing
            for run in locked:
                run.unlock()
            raise

    def _write_manifest(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / MANIFEST).write_text(json.dumps(
            {"runs": self.names,
             "stacks": [[self.names[i] for i in g.members] for g in self.groups]}, indent=1))

    def train(self, progress: bool) -> list[dict]:
        self._lock_all()
        records: list[dict] = [{} for _ in self.runs]
        try:
            for i, session in enumerate(self.sessions):
                session.clear(resume=bool(self.metas))
                if self.metas:
                    session.run.reconcile_metrics(self.metas[i]["epoch"],
                                                  self.metas[i].get("record"))
            if not self.resume:
                self._write_manifest()
            for c, p, session in zip(self.cfgs, self.parts, self.sessions):
                session.start({**config_document(c, p), "stack": {"dir": str(self.out)}},
                              source_file(p.model))
            records = self._loop(progress)
        except BaseException:
            if not self.resume and not any(r.has_checkpoint for r in self.runs):
                # stopped before the first checkpoint: leave nothing that looks like a stack
                for session in self.sessions:
                    session.abandon({})
                (self.out / MANIFEST).unlink(missing_ok=True)
            raise
        finally:
            for session, rec in zip(self.sessions, records):
                session.end(rec)
            for run in self.runs:
                run.unlock(discard=not run.has_checkpoint)
        return records

    def _loop(self, progress: bool) -> list[dict]:
        cfg = self.cfgs[0]
        engine = Engine(self.sessions, [p.objective for p in self.parts], self.names,
                        [StackStepper(g, self.cfgs, self.steps, self.opts,
                                      self.parts[g.members[0]].objective) for g in self.groups],
                        [g.rng for g in self.groups], self.shuffle, self.guard, self.device,
                        f"vaelab train-stack --resume --out {self.out}",
                        f"vaelab train --resume --out {self.out}/NAME", stack=True,
                        epoch=self.epoch, steps=self.n_steps)
        # binarized per stack, from the stack's own stream, as its solo run does
        batches = TensorBatches(self.data.train.to(self.device), cfg.optim.batch_size,
                                shuffle=True, generator=self.shuffle)
        # a finished grid resumed: the records it finished with
        records: list[dict] = [m.get("record") or {} for m in self.metas] if self.metas else \
            [{} for _ in self.runs]
        return engine.run(batches, self.data.valid.to(self.device), self.data.dynamic_binarize,
                          progress, records, f"{len(self.runs)} runs in {len(self.groups)} stacks")


class StackStepper(Stepper):
    """One stack's steps: its runs as one vmapped model (``StackedRuns``)."""

    def __init__(self, group: _Group, cfgs: list[RunConfig], steps: list[Step],
                 opts: list[torch.optim.Adam], objective: Objective) -> None:
        self.members, self.stacked, self.objective = group.members, group.stacked, objective
        self.cfgs, self.steps, self.opts = cfgs, steps, opts

    def start_epoch(self, epoch: int) -> None:
        self.stacked.set_lrs([self.cfgs[i].optim.lr_at(epoch) for i in self.members])
        self.stacked.template.objective = self.objective.at_epoch(epoch, self.stacked.device)
        self.stacked.template.train()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stacked.step(x)

    def end_epoch(self) -> None:
        self.stacked.unstack([self.steps[i] for i in self.members])

    def optimizer(self, j: int) -> torch.optim.Optimizer:
        return self.stacked.optimizer_state(j, self.opts[self.members[j]])
