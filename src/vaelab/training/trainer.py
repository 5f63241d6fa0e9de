"""Training a run: ``train(config, out)`` validates and builds the parts, then runs the epochs.

    build_parts   data, model, objective, estimator from the config (all validated before
                  anything is written)
    train         run-directory set-up -> epochs (run_epoch) -> validation and early stopping
                  -> checkpoint -> metrics and loggers; exact resume; DDP under torchrun
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

import vaelab.training.distributed as distributed
from vaelab._version import __version__
from vaelab.data.batches import TensorBatches
from vaelab.data.dataset import ImageDataset
from vaelab.data.registry import check_likelihood, likelihood_of, load_data
from vaelab.errors import ConfigError, DataError
from vaelab.estimators import Estimator, make_estimator
from vaelab.eval.baseline import Guard, divergence_guard
from vaelab.memory import check_training_fits
from vaelab.models.base import Model
from vaelab.models.registry import build_model, from_spec, source_file, spec, supported_likelihoods
from vaelab.objectives import Objective, make_objective
from vaelab.training.callbacks import Callback, make_loggers
from vaelab.training.checkpoint import load_latest, restore
from vaelab.training.config import RESUMABLE, RunConfig
from vaelab.training.loop import EagerUpdate, Step, run_epoch
from vaelab.training.progress import EpochProgress
from vaelab.training.rundir import RunDir
from vaelab.training.session import (
    RunSession,
    divergence,
    epoch_loop,
    epoch_record,
    make_adam,
    set_lr,
)
from vaelab.training.whole_step import WholeStep, place_adam_steps


def resolve_device(name: str) -> torch.device:
    """``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device: use cpu, cuda, cuda:N or auto"
                          ) from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name!r}: vaelab runs on cpu or cuda (or auto)")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name} asked for, but no CUDA GPU is available; use "
                              "--device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) here")
    return dev


@dataclass
class Parts:
    data: ImageDataset
    likelihood: str
    model: Model
    objective: Objective
    estimator: Estimator


def build_parts(cfg: RunConfig, model: Model | None = None, data: ImageDataset | None = None,
                model_spec: dict | None = None, source_dir: Path | None = None) -> Parts:
    """Data, model, objective and estimator of a run, each checked against the others."""
    if data is None:
        data, likelihood = load_data(cfg.data)
    else:
        likelihood = likelihood_of(cfg.data, data)
        check_likelihood(data, likelihood)
    if len(data.train) and float(data.train.min()) == float(data.train.max()):
        raise DataError(f"{data.name}: every value of the training split is "
                        f"{float(data.train.min()):g}, so there is nothing to learn; check the "
                        "file (a blank export?)")
    supported = None if model is not None else supported_likelihoods(cfg.model.model)
    if cfg.data.likelihood == "auto" and supported and likelihood not in supported:
        # 8-bit data defaults to the discretized logistic; a model with 256-way softmax pixels
        # (PixelCNN, PixelVAE, VQ-VAE) takes the categorical instead of refusing the data
        if likelihood == "logistic" and "categorical" in supported:
            likelihood = "categorical"
            check_likelihood(data, likelihood)
    if model is None:
        asked = None if cfg.data.likelihood == "auto" else cfg.data.likelihood
        model = (from_spec(model_spec, source_dir) if model_spec else
                 build_model(cfg.model.model, cfg.model.model_args, data.image_shape, likelihood,
                             likelihood_asked=asked))
    if tuple(model.x_shape) != tuple(data.image_shape):
        raise ConfigError(f"the model takes examples of shape {list(model.x_shape)}, the data "
                          f"has {list(data.image_shape)}; build the model for this data")
    objective = make_objective(cfg.objective.objective, **cfg.objective.objective_args)
    estimator = make_estimator(cfg.estimator.estimator, cfg.estimator.k, data.dim,
                               **cfg.estimator.estimator_args)
    estimator.check(model, objective)
    objective.check_samples(cfg.estimator.k)
    if model.capabilities.latent in ("point_mass", "none") and cfg.estimator.k > 1:
        raise ConfigError(f"{type(model).__name__} has a {model.capabilities.latent} latent, so "
                          f"its log-weights do not vary between samples: use --k 1")
    return Parts(data, likelihood, model, objective, estimator)


def resume_config(stored: RunConfig, changes: dict) -> RunConfig:
    """The stored run's configuration with this call's changes to the settings that may change
    (``RESUMABLE``); a change to anything that defines the run is refused (a value equal to the
    stored one, default or not, is no change)."""
    fixed = {k: v for k, v in changes.items() if k not in RESUMABLE}
    if fixed:
        before, after = stored.effective(), RunConfig.from_options(fixed, stored).effective()
        for k in fixed:
            if before.get(k) != after.get(k):
                raise ConfigError(
                    f"--resume cannot change --{k.replace('_', '-')} ({before.get(k)!r} -> "
                    f"{after.get(k)!r}): it defines the run. A resumed run may change "
                    f"{', '.join('--' + r.replace('_', '-') for r in RESUMABLE)}")
    allowed = {k: v for k, v in changes.items() if k in RESUMABLE}
    if allowed.get("schedule", stored.optim.schedule) != "burda" and "epochs" not in allowed \
            and stored.optim.schedule == "burda":
        allowed["epochs"] = 0  # leaving burda: fall back to the default length
    return RunConfig.from_options(allowed, stored)


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


def _rng_state(shuffle: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    return {**device_rng_state(device), "shuffle": shuffle.get_state()}


def _set_rng_state(st: dict, shuffle: torch.Generator, device: torch.device) -> None:
    set_device_rng_state(st, device)
    shuffle.set_state(st["shuffle"])


def _rank_device(device: torch.device, dinfo: distributed.DistInfo) -> torch.device:
    if device.type != "cuda" or not dinfo.enabled:
        return device
    if dinfo.local_rank >= torch.cuda.device_count():
        raise ConfigError(f"process {dinfo.local_rank} of this node has no GPU of its own "
                          f"({torch.cuda.device_count()} visible): start torchrun with "
                          "--nproc_per_node at most the number of GPUs, or use --device cpu")
    device = torch.device("cuda", dinfo.local_rank)
    torch.cuda.set_device(device)
    return device


def config_document(cfg: RunConfig, parts: Parts, preset: dict | None = None) -> dict:
    """What config.json holds: enough to rebuild the model without the data, and to find the
    data again; ``preset``: the paper preset the run started from and the options given over
    it."""
    doc = {"vaelab": __version__, "train": cfg.to_dict(), "model": spec(parts.model),
           "data": {**parts.data.summary(), "likelihood": parts.likelihood}}
    if preset:
        doc["preset"] = preset
    return doc


def train(cfg: RunConfig, out: str | Path, *, model: Model | None = None,
          data: ImageDataset | None = None, resume: bool = False, overwrite: bool = False,
          progress: bool = True, callbacks: list[Callback] | None = None,
          preset: dict | None = None) -> dict:
    """Train per ``cfg`` into run directory ``out``; return the final metrics record.

    ``model``/``data`` replace what the config names (a Python caller's own objects). With
    ``resume``, ``cfg`` must be the stored configuration (see ``resume_config``). ``preset``
    (``{"name", "overrides"}``) is recorded in config.json; a resumed run keeps its own."""
    run = RunDir(out)
    run.check(resume, overwrite)
    device = resolve_device(cfg.runtime.device)
    loggers = make_loggers(cfg.runtime.loggers) + list(callbacks or [])
    dinfo = distributed.setup(device)
    device = _rank_device(device, dinfo)
    torch.manual_seed(cfg.runtime.seed)
    shuffle = torch.Generator().manual_seed(cfg.runtime.seed)
    stored = _stored_doc(run) if resume else None
    parts = build_parts(cfg, model, data, stored["model"] if stored and model is None else None,
                        run.path)
    check_training_fits(parts.model, parts.data.train[:1], cfg.estimator.k,
                        cfg.optim.batch_size, device,
                        data_bytes=(parts.data.train.nbytes + parts.data.valid.nbytes))
    guard = divergence_guard(parts.data, parts.likelihood)
    if not resume:
        parts.model.init_from_data(parts.data.train_mean())
    step = Step(parts.model, parts.estimator, parts.objective).to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed image shapes: let cuDNN pick its kernels
    whole = bool(cfg.runtime.compile) and not dinfo.enabled
    # eager: fused Adam, one kernel for every parameter (CPU: at par with a plain loop,
    # BENCHMARKS section 10, where torch's default foreach Adam is 2-3% behind); compiled: a
    # capturable Adam, whose update the compiled step fuses into its own graph
    if step.auxiliaries() and (cfg.runtime.compile or dinfo.enabled):
        raise ConfigError(f"{', '.join(a.name for a in step.auxiliaries())} trains its own "
                          "network beside the model, which the compiled step and DDP do not "
                          "do yet: train it eager on one process (--compile off, no torchrun)")
    opt = make_adam(step.param_groups(cfg.optim.lr), cfg.optim,
                    fused=not whole and device.type in ("cuda", "cpu"), capturable=whole)
    out_session = RunSession(cfg, run, parts.model, parts.estimator,
                             parts.objective.warmup_epochs, parts.data.dynamic_binarize, loggers)
    session = Session(cfg, out_session, parts, step, opt, shuffle, device, dinfo, guard)
    # everything is validated: from here on the run directory changes, one writer at a time
    if dinfo.is_main:
        _take(run, resume, overwrite)
    record: dict = {}
    try:
        if dinfo.is_main:
            out_session.clear(resume)
        if resume:
            session.resume()
        if dinfo.is_main:
            preset = stored.get("preset") if stored else preset
            out_session.start(config_document(cfg, parts, preset), source_file(parts.model))
        record = session.loop(progress)
    except BaseException:
        if dinfo.is_main and not run.has_checkpoint:
            out_session.abandon(record)
        raise
    finally:
        if dinfo.is_main:
            out_session.end(record)
            run.unlock(discard=not run.has_checkpoint)
        distributed.teardown(dinfo)
    return record


def _take(run: RunDir, resume: bool, overwrite: bool) -> None:
    """Lock the run directory, then check it again under the lock: another writer may have
    finished a run there meanwhile."""
    run.lock()
    try:
        run.check(resume, overwrite)
    except BaseException:
        run.unlock()
        raise


def _stored_doc(run: RunDir) -> dict:
    """The run's config.json, or the one of a run set aside by an unfinished --overwrite."""
    if not run.has_checkpoint and (run.aside / "config.json").is_file():
        return RunDir(run.aside).read_doc()
    return run.read_doc()


@dataclass
class Session:
    """One solo training call's moving parts: the stepper over the epochs, and the run's
    ``RunSession`` (validation, checkpoints, metrics, loggers)."""

    cfg: RunConfig
    out: RunSession
    parts: Parts
    step: Step
    opt: torch.optim.Optimizer
    shuffle: torch.Generator
    device: torch.device
    dinfo: distributed.DistInfo
    guard: Guard | None = None  # what a sound training bound looks like
    epoch: int = 0
    steps: int = 0

    def resume(self) -> None:
        """Model, estimator, optimizer, random streams, counters and early stopping from the
        run's last checkpoint (the metrics file brought to the same epoch)."""
        run, cfg = self.out.run, self.cfg
        tensors, header, _ = load_latest(run.last)
        meta = header["meta"]
        if cfg.optim.epochs < meta["epoch"]:
            raise ConfigError(f"--epochs {cfg.optim.epochs} is below the {meta['epoch']} epochs "
                              f"this run has done; give --epochs above {meta['epoch']} to train "
                              "on (nothing was changed)")
        how = {k: self.opt.param_groups[0][k] for k in ("fused", "capturable", "foreach")}
        rng = restore(tensors, header, {"model": self.parts.model,
                                        "estimator": self.parts.estimator}, self.opt)
        for g in self.opt.param_groups:  # the stored run may have stepped compiled, or eager
            g.update(how)
        place_adam_steps(self.opt)
        _set_rng_state(rng, self.shuffle, self.device)
        self.epoch, self.steps = meta["epoch"], meta["step"]
        self.out.restore(meta)
        if self.dinfo.is_main:
            run.reconcile_metrics(meta["epoch"], meta.get("record"))

    def updater(self):
        """The stepper: forward, backward and Adam as one compiled graph, or eager (under DDP
        only the forward compiles: the all-reduce lives in autograd hooks)."""
        cfg, mode = self.cfg, self.cfg.runtime.compile
        if mode and not self.dinfo.enabled:
            # "reduce-overhead" replays the step as one CUDA graph, which is what removes the
            # launch overhead of a small MLP
            return WholeStep(self.step, self.opt, mode, normalize=cfg.optim.normalize_grads)
        runner = DDP(self.step) if self.dinfo.enabled else self.step
        return EagerUpdate(torch.compile(runner, mode=mode) if mode else runner, self.opt,
                           normalize=cfg.optim.normalize_grads, step=self.step)

    def loop(self, progress: bool) -> dict:
        cfg, dinfo, data = self.cfg, self.dinfo, self.parts.data
        valid_x = data.valid.to(self.device)
        batches = TensorBatches(data.train.to(self.device), cfg.optim.batch_size, shuffle=True,
                                dynamic_binarize=data.dynamic_binarize, generator=self.shuffle,
                                rank=dinfo.rank, world_size=dinfo.world_size)
        update = self.updater()
        record: dict = {}

        def one_epoch(epoch: int) -> tuple[dict, bool]:
            nonlocal record
            record = self.train_epoch(epoch, update, batches)
            if not dinfo.is_main:
                return record, False
            if self.out.due(epoch):
                self.out.validate(epoch, valid_x, record)
            self.epoch = epoch + 1
            self.out.checkpoint(epoch, self.steps, record, self.opt,
                                _rng_state(self.shuffle, self.device))
            return record, self.out.early.stop

        bar = EpochProgress(self.epoch, cfg.optim.epochs, progress and dinfo.is_main,
                            speak=dinfo.is_main)
        stopped = epoch_loop(self.epoch, cfg.optim.epochs, one_epoch,
                             time_limit=cfg.runtime.time_limit, bar=bar,
                             resume=f"vaelab train --resume --out {self.out.run.path}",
                             patience=cfg.eval.patience,
                             agree=lambda flag: distributed.broadcast_flag(flag, dinfo,
                                                                           self.device))
        bar.close()
        if stopped == "time_limit":
            record["stopped"] = stopped
        return record

    def train_epoch(self, epoch: int, update, batches) -> dict:
        """One pass over the training data at this epoch's learning rate and objective."""
        cfg, parts = self.cfg, self.parts
        t0 = time.perf_counter()
        set_lr(self.opt, cfg.optim.lr_at(epoch))
        self.step.objective = parts.objective.at_epoch(epoch)
        self.step.train()
        loss_sum, bound_sum, n = run_epoch(update, batches, self.device)
        self.steps += n
        bound = float(bound_sum) / n
        what = self.guard.check(float(loss_sum), bound) if self.guard else None
        if not distributed.all_true(what is None, self.dinfo, self.device):
            raise divergence([("", what or "another process diverged")], epoch, self.epoch,
                             f"vaelab train --resume --out {self.out.run.path}",
                             f"--lr {cfg.optim.lr_at(epoch) / 10:.3g}")
        return epoch_record(epoch, self.steps, cfg, parts.objective.label, bound,
                            time.perf_counter() - t0, parts.model.training_diagnostics())
