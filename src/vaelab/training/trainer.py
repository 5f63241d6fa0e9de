"""Training a run: ``train(config, out)`` validates and builds the parts, then runs the epochs.

    build_parts   data, model, objective, estimator from the config (all validated before
                  anything is written)
    train         run-directory set-up -> the ``Engine`` with one ``SoloStepper`` (a stack of
                  one: eager, compiled whole step, or DDP under torchrun) -> validation and
                  early stopping -> checkpoint -> metrics and loggers; exact resume
"""

from __future__ import annotations

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
from vaelab.eval.baseline import divergence_guard
from vaelab.memory import check_training_fits
from vaelab.models.base import Model
from vaelab.models.registry import build_model, from_spec, source_file, spec, supported_likelihoods
from vaelab.objectives import Objective, make_objective
from vaelab.training.callbacks import Callback, make_loggers
from vaelab.training.checkpoint import load_latest, restore
from vaelab.training.config import RESUMABLE, RunConfig
from vaelab.training.engine import Engine, Stepper, set_device_rng_state
from vaelab.training.loop import EagerUpdate, Step
from vaelab.training.rundir import RunDir
from vaelab.training.session import RunSession, make_adam, set_lr
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
    stepper = SoloStepper.build(cfg, parts, device, dinfo)
    out_session = RunSession(cfg, run, parts.model, parts.estimator,
                             parts.objective.warmup_epochs, parts.data.dynamic_binarize, loggers)
    resume_cmd = f"vaelab train --resume --out {run.path}"
    engine = Engine([out_session], [parts.objective], [""], [stepper], [], shuffle, guard,
                    device, resume_cmd, resume_cmd, dinfo)
    # everything is validated: from here on the run directory changes, one writer at a time
    if dinfo.is_main:
        _take(run, resume, overwrite)
    record: dict = {}
    finished = False
    try:
        if dinfo.is_main:
            out_session.clear(resume)
        if resume:
            _resume(engine, stepper)
        if dinfo.is_main:
            preset = stored.get("preset") if stored else preset
            out_session.start(config_document(cfg, parts, preset), source_file(parts.model))
        batches = TensorBatches(parts.data.train.to(device), cfg.optim.batch_size, shuffle=True,
                                generator=shuffle, rank=dinfo.rank, world_size=dinfo.world_size)
        record = engine.run(batches, parts.data.valid.to(device), parts.data.dynamic_binarize,
                            progress, [{}])[0]
        finished = True
    except BaseException:
        if dinfo.is_main and not run.has_checkpoint:
            out_session.abandon(record)
        raise
    finally:
        if dinfo.is_main:
            out_session.end(record)
            run.unlock(discard=not run.has_checkpoint)
        distributed.teardown(dinfo, finished)
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


def _resume(engine: Engine, stepper: SoloStepper) -> None:
    """Model, estimator, optimizer, random streams, counters and early stopping from the run's
    last checkpoint (the metrics file brought to the same epoch)."""
    session = engine.sessions[0]
    run, cfg, opt = session.run, session.cfg, stepper.opt
    tensors, header, _ = load_latest(run.last)
    meta = header["meta"]
    if cfg.optim.epochs < meta["epoch"]:
        raise ConfigError(f"--epochs {cfg.optim.epochs} is below the {meta['epoch']} epochs "
                          f"this run has done; give --epochs above {meta['epoch']} to train "
                          "on (nothing was changed)")
    how = {k: opt.param_groups[0][k] for k in ("fused", "capturable", "foreach")}
    rng = restore(tensors, header, {"model": session.model, "estimator": session.estimator},
                  opt)
    for g in opt.param_groups:  # the stored run may have stepped compiled, or eager
        g.update(how)
    place_adam_steps(opt)
    set_device_rng_state(rng, engine.device)
    engine.shuffle.set_state(rng["shuffle"])
    engine.epoch, engine.steps = meta["epoch"], meta["step"]
    session.restore(meta)
    if engine.dinfo.is_main:
        run.reconcile_metrics(meta["epoch"], meta.get("record"))


class SoloStepper(Stepper):
    """One run's steps: forward, backward and Adam as one compiled graph, or eager (under DDP
    only the forward compiles: the all-reduce lives in autograd hooks)."""

    def __init__(self, cfg: RunConfig, step: Step, opt: torch.optim.Optimizer,
                 objective: Objective, dinfo: distributed.DistInfo) -> None:
        self.members, self.cfg, self.step, self.opt = [0], cfg, step, opt
        self.objective, self.dinfo = objective, dinfo
        self.device = next(step.parameters()).device
        self._update = None

    @classmethod
    def build(cls, cfg: RunConfig, parts: Parts, device: torch.device,
              dinfo: distributed.DistInfo) -> SoloStepper:
        """The run's Step on ``device`` and its Adam: fused when eager (one kernel for every
        parameter; on the CPU at par with a plain loop, BENCHMARKS section 10, where torch's
        default foreach Adam is 2-3% behind), capturable when compiled whole (the compiled
        step fuses its update into its own graph)."""
        step = Step(parts.model, parts.estimator, parts.objective).to(device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed image shapes: cuDNN picks kernels
        whole = bool(cfg.runtime.compile) and not dinfo.enabled
        if step.auxiliaries() and (cfg.runtime.compile or dinfo.enabled):
            raise ConfigError(f"{', '.join(a.name for a in step.auxiliaries())} trains its own "
                              "network beside the model, which the compiled step and DDP do "
                              "not do yet: train it eager on one process (--compile off, no "
                              "torchrun)")
        opt = make_adam(step.param_groups(cfg.optim.lr), cfg.optim,
                        fused=not whole and device.type in ("cuda", "cpu"), capturable=whole)
        return cls(cfg, step, opt, parts.objective, dinfo)

    def update(self):
        """Built at the first step, after a resume has placed the optimizer's state."""
        if self._update is None:
            cfg, mode = self.cfg, self.cfg.runtime.compile
            if mode and not self.dinfo.enabled:
                # "reduce-overhead" replays the step as one CUDA graph, which is what removes
                # the launch overhead of a small MLP
                self._update = WholeStep(self.step, self.opt, mode,
                                         normalize=cfg.optim.normalize_grads)
            else:
                runner = DDP(self.step) if self.dinfo.enabled else self.step
                self._update = EagerUpdate(torch.compile(runner, mode=mode) if mode else runner,
                                           self.opt, normalize=cfg.optim.normalize_grads,
                                           step=self.step)
        return self._update

    def start_epoch(self, epoch: int) -> None:
        set_lr(self.opt, self.cfg.optim.lr_at(epoch))
        self.step.objective = self.objective.at_epoch(epoch, self.device)
        self.step.train()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, bound = self.update()(x)
        return loss.reshape(1), bound.reshape(1)

    def optimizer(self, j: int) -> torch.optim.Optimizer:
        return self.opt
