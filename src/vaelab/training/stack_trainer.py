"""Training a stack: N runs of one architecture in one process, one vmapped (and, with
``--compile``, one compiled) step per batch, each run written to its own run directory.

    train_stack(cfg, "runs/grid", seeds=[0, 1], lrs=[1e-3, 3e-4])
        -> runs/grid/seed0-lr0.001/, seed0-lr0.0003/, seed1-lr0.001/, seed1-lr0.0003/, stack.json

Each run directory is a complete run (config.json, checkpoints with the run's own Adam state,
metrics.jsonl, tb/): ``vaelab eval``, ``vaelab.load_run`` and ``vaelab train --resume`` take it
like a solo run's. A run's initialization comes from its own seed, exactly as in a solo run;
the data order and the draws (training and validation) are shared, taken from the first seed
(common random numbers, ``StackedRuns``). So every run with the first seed is exactly the solo
run ``vaelab train --seed S --lr LR`` (a test checks it); the others differ from their solo runs
in those draws alone. Runs that differ in K, objective or architecture are different graphs:
separate stacks.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vaelab.errors import ConfigError, DivergenceError
from vaelab.eval.baseline import divergence_floor
from vaelab.eval.likelihood import evaluate_bounds
from vaelab.memory import check_training_fits
from vaelab.models.registry import source_file
from vaelab.training.callbacks import make_loggers
from vaelab.training.checkpoint import load_latest, restore, save_checkpoint
from vaelab.training.config import RunConfig
from vaelab.training.loop import Step
from vaelab.training.rundir import RunDir
from vaelab.training.stacked import StackedRuns
from vaelab.training.trainer import (
    Parts,
    _rng_state,
    _set_rng_state,
    build_parts,
    config_document,
    resolve_device,
    resume_config,
)

MANIFEST = "stack.json"


def run_name(seed: int, lr: float) -> str:
    return f"seed{seed}-lr{lr:g}"


def _check_grid(seeds: list[int], lrs: list[float]) -> None:
    if not seeds or not lrs:
        raise ConfigError("a stack needs at least one --seeds value and one --lrs value")
    if len(set(seeds)) != len(seeds) or len(set(lrs)) != len(lrs):
        raise ConfigError(f"--seeds and --lrs must not repeat a value (seeds {list(seeds)}, "
                          f"lrs {list(lrs)}): a repeated run would overwrite its twin")
    bad = [lr for lr in lrs if not (0 < lr < math.inf)]
    if bad:
        raise ConfigError(f"--lrs must be finite and > 0, got {bad}")


def _check_stackable(cfg: RunConfig) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("a stack trains its runs in one process: start it without torchrun")
    if cfg.eval.patience:
        raise ConfigError("a stack trains every run for --epochs; early stopping would stop its "
                          "runs at different epochs: use --patience 0 (the best checkpoint of "
                          "each run is kept anyway)")


def train_stack(cfg: RunConfig | None, out: str | Path, seeds: list[int] | None = None,
                lrs: list[float] | None = None, *, resume: bool = False,
                changes: dict | None = None, progress: bool = True) -> dict[str, dict]:
    """Train the grid ``seeds`` x ``lrs`` of ``cfg`` as one stack into ``out``/NAME run
    directories (NAME = ``run_name(seed, lr)``); return each run's last metrics record by NAME,
    in grid order (seeds outer). With ``resume``, the
    stack in ``out`` continues (``cfg``, ``seeds`` and ``lrs`` come from it; ``changes`` may
    change what a resumed run may change, e.g. ``{"epochs": 50}``)."""
    out = Path(out)
    if resume:
        cfgs, names = _stored_stack(out, changes or {})
    else:
        if cfg is None:
            raise ConfigError("give the configuration of the stack's runs")
        _check_grid(list(seeds or []), list(lrs or []))
        cfgs = [RunConfig.from_options({"seed": s, "lr": lr}, cfg) for s in seeds for lr in lrs]
        names = [run_name(s, lr) for s in seeds for lr in lrs]
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; give a directory for the stack")
        if (out / MANIFEST).is_file():
            raise ConfigError(f"{out} already holds a stack; continue it with --resume, or give "
                              "another --out")
    _check_stackable(cfgs[0])
    runs = [RunDir(out / n) for n in names]
    for run in runs:
        run.check(resume, overwrite=False)
    records = _Stack(cfgs, names, runs, out, resume).train(progress)
    return dict(zip(names, records))


def _stored_stack(out: Path, changes: dict) -> tuple[list[RunConfig], list[str]]:
    try:
        names = json.loads((out / MANIFEST).read_text())["runs"]
    except FileNotFoundError:
        raise ConfigError(f"--resume: {out} holds no stack (no {MANIFEST}); start it without "
                          "--resume") from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{out / MANIFEST} is corrupt ({e}); resume its runs one by one with "
                          "`vaelab train --resume`") from None
    return [resume_config(RunConfig.load(out / n), changes) for n in names], names


class _Stack:
    def __init__(self, cfgs: list[RunConfig], names: list[str], runs: list[RunDir], out: Path,
                 resume: bool) -> None:
        self.cfgs, self.names, self.runs, self.out, self.resume = cfgs, names, runs, out, resume
        cfg = cfgs[0]
        self.device = resolve_device(cfg.runtime.device)
        self.shuffle = torch.Generator()
        self.parts: list[Parts] = []
        rng_after_first = None
        data = None
        for i, (c, run) in enumerate(zip(cfgs, runs)):
            # each run is built exactly as `vaelab train` builds it: its seed, then its parts
            torch.manual_seed(c.runtime.seed)
            stored = run.read_doc()["model"] if resume else None
            p = build_parts(c, None, data, stored, run.path if resume else None)
            data = p.data
            check_training_fits(p.model, data.train[:1], c.estimator.k, c.optim.batch_size,
                                self.device, data_bytes=data.train.nbytes + data.valid.nbytes)
            if i == 0:
                self.floor = divergence_floor(data)
            if not resume:
                p.model.init_from_data(data.train_mean())
            self.parts.append(p)
            if i == 0:
                self.shuffle.manual_seed(c.runtime.seed)
                rng_after_first = _rng_state(self.shuffle, self.device)
        first = self.parts[0]
        # the stack as a whole: N models' activations at once
        check_training_fits(first.model, data.train[:1], cfg.estimator.k,
                            cfg.optim.batch_size * len(cfgs), self.device,
                            data_bytes=data.train.nbytes + data.valid.nbytes)
        self.steps = [Step(p.model, p.estimator, p.objective).to(self.device)
                      for p in self.parts]
        self.opts = [torch.optim.Adam(s.parameters(), lr=c.optim.lr, betas=(0.9, 0.999),
                                      eps=1e-4) for s, c in zip(self.steps, cfgs)]
        self.epoch = self.n_steps = 0
        self.best = [-math.inf] * len(cfgs)
        if resume:
            metas = []
            for i, (run, p, opt) in enumerate(zip(runs, self.parts, self.opts)):
                tensors, header, _ = load_latest(run.last)
                rng = restore(tensors, header, {"model": p.model, "estimator": p.estimator},
                              opt)
                if i == 0:
                    rng_after_first = rng
                metas.append(header["meta"])
            epochs = {m["epoch"] for m in metas}
            if len(epochs) > 1:
                raise ConfigError(f"the stack's runs stopped at different epochs ({sorted(epochs)}"
                                  "); resume them one by one with `vaelab train --resume`")
            self.epoch, self.n_steps = metas[0]["epoch"], metas[0]["step"]
            self.best = [m["best"] for m in metas]
        self.metas = metas if resume else None
        _set_rng_state(rng_after_first, self.shuffle, self.device)
        self.stacked = StackedRuns(self.steps, [c.optim.lr_at(self.epoch) for c in cfgs],
                                   eps=1e-4, compile=cfg.runtime.compile)
        probe = data.train[:2].to(self.device)
        self.stacked.check((probe > 0.5).to(probe.dtype) if data.dynamic_binarize else probe)
        if resume:
            self.stacked.load_optimizer_states(self.opts)
        self.loggers = [make_loggers(c.runtime.loggers) for c in cfgs]

    def train(self, progress: bool) -> list[dict]:
        locked: list[RunDir] = []
        started = False
        records: list[dict] = [{} for _ in self.runs]
        try:
            for run in self.runs:
                run.lock()
                locked.append(run)
            for i, run in enumerate(self.runs):
                run.clean_stale()
                if self.metas:
                    run.reconcile_metrics(self.metas[i]["epoch"], self.metas[i].get("record"))
                else:
                    run.clear_unstarted()
            if not self.resume:
                self.out.mkdir(parents=True, exist_ok=True)
                (self.out / MANIFEST).write_text(json.dumps(
                    {"runs": self.names, "draws_from": self.names[0]}, indent=1))
            for c, p, run, cbs in zip(self.cfgs, self.parts, self.runs, self.loggers):
                doc = {**config_document(c, p), "stack": {"dir": str(self.out),
                                                          "draws_from": self.names[0]}}
                run.write_config(doc)
                run.copy_model_source(source_file(p.model))
                for cb in cbs:
                    cb.on_start(run.path, doc)
            started = True
            records = self._loop(progress)
        except BaseException:
            if not self.resume and not any(r.has_checkpoint for r in self.runs):
                # stopped before the first checkpoint: leave nothing that looks like a stack
                (self.out / MANIFEST).unlink(missing_ok=True)
                for run in self.runs:
                    run.clear_unstarted()
            raise
        finally:
            if started:
                for cbs, rec in zip(self.loggers, records):
                    for cb in cbs:
                        cb.on_end(rec)
            for run in locked:
                run.unlock()
        return records

    def _loop(self, progress: bool) -> list[dict]:
        cfg, data = self.cfgs[0], self.parts[0].data
        from vaelab.data import TensorBatches

        valid_x = data.valid.to(self.device)
        batches = TensorBatches(data.train.to(self.device), cfg.optim.batch_size, shuffle=True,
                                dynamic_binarize=data.dynamic_binarize, generator=self.shuffle)
        epochs, records = cfg.optim.epochs, [{} for _ in self.runs]
        t_start = time.perf_counter()
        bar = tqdm(range(self.epoch, epochs), disable=not progress, desc=f"stack of "
                   f"{len(self.runs)}", unit="epoch", initial=self.epoch, total=epochs,
                   mininterval=2)
        for epoch in bar:
            records = self._epoch(epoch, batches)
            self._end_of_epoch(epoch, records, valid_x)
            limit = cfg.runtime.time_limit
            if epoch + 1 < epochs and limit > 0 and time.perf_counter() - t_start > 60 * limit:
                tqdm.write(f"--time-limit of {limit:g} min reached after epoch {epoch + 1} of "
                           f"{epochs}; checkpoints saved, continue with `vaelab train-stack "
                           f"--resume --out {self.out}`")
                for r in records:
                    r["stopped"] = "time_limit"
                break
        return records

    def _epoch(self, epoch: int, batches) -> list[dict]:
        t0 = time.perf_counter()
        self.stacked.set_lrs([c.optim.lr_at(epoch) for c in self.cfgs])
        objective = self.parts[0].objective.at_epoch(epoch)
        self.stacked.template.objective = objective
        self.stacked.template.train()
        n = len(self.runs)
        loss_sum = torch.zeros(n, device=self.device)
        bound_sum = torch.zeros(n, device=self.device)
        steps = 0
        for x in batches:
            losses, bounds = self.stacked.step(x)
            loss_sum += losses
            bound_sum += bounds
            steps += 1
        self.n_steps += steps
        bounds = (bound_sum / steps).tolist()
        floor, baseline = self.floor[1], self.floor[0]
        bad = [f"{name} ({'NaN/Inf' if not math.isfinite(b + ls) else f'{b:.4g} nats'})"
               for name, b, ls in zip(self.names, bounds, loss_sum.tolist())
               if not math.isfinite(b + ls) or b < floor]
        if bad:
            kept = (f"the last good checkpoints (epoch {self.epoch}) are kept; continue a run "
                    f"alone with a lower learning rate: `vaelab train --resume --out "
                    f"{self.out}/NAME --lr ...`" if self.epoch else "no epoch finished; start "
                    "again with lower learning rates")
            raise DivergenceError(f"in epoch {epoch + 1} the training bound of {', '.join(bad)} "
                                  f"diverged (below the floor of {floor:.4g}; a factorized "
                                  f"model of the data gets {baseline:.4g}); the stack stopped: "
                                  f"{kept}")
        key = f"train_{objective.label}_k{self.cfgs[0].estimator.k}"
        seconds = time.perf_counter() - t0
        self.stacked.unstack(self.steps)  # each run's parameters into its own modules
        return [{"epoch": epoch + 1, "step": self.n_steps, "lr": c.optim.lr_at(epoch), key: b,
                 "epoch_seconds": seconds, **p.model.training_diagnostics()}
                for c, b, p in zip(self.cfgs, bounds, self.parts)]

    def _end_of_epoch(self, epoch: int, records: list[dict], valid_x: torch.Tensor) -> None:
        ev = self.cfgs[0].eval
        due = (epoch + 1) % ev.eval_every == 0 or epoch + 1 == self.cfgs[0].optim.epochs
        self.epoch = epoch + 1
        shared = _rng_state(self.shuffle, self.device)
        after_first = shared
        for i, (p, run, rec) in enumerate(zip(self.parts, self.runs, records)):
            if due:  # every run sees the validation draws the first run sees
                _set_rng_state(shared, self.shuffle, self.device)
                v = evaluate_bounds(p.model, valid_x, ks=(ev.eval_k,),
                                    binarize=p.data.dynamic_binarize)["bounds"][ev.eval_k]
                rec[f"valid_L{ev.eval_k}"] = v
                if i == 0:
                    after_first = _rng_state(self.shuffle, self.device)
                if v > self.best[i]:
                    self.best[i] = v
                    save_checkpoint(run.best, {"model": p.model}, None,
                                    {"epoch": epoch + 1, "valid_bound": v})
        _set_rng_state(after_first, self.shuffle, self.device)
        for i, (p, run, rec, opt) in enumerate(zip(self.parts, self.runs, records, self.opts)):
            meta = {"epoch": self.epoch, "step": self.n_steps, "best": self.best[i],
                    "bad_evals": 0, "record": rec}
            save_checkpoint(run.last, {"model": p.model, "estimator": p.estimator},
                            self.stacked.optimizer_state(i, opt), meta, after_first,
                            keep_previous=True)
            run.append_metrics(rec)
            for cb in self.loggers[i]:
                cb.on_epoch_end(rec)
