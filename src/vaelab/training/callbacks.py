"""Loggers as callbacks: TensorBoard when it is installed (``pip install 'vaelab[tensorboard]'``;
the ``dev`` extra has it), Weights & Biases and MLflow on request (``--loggers wandb mlflow``,
``'vaelab[wandb]'`` / ``'vaelab[mlflow]'``), none of them required.

Every logger gets the run's configuration as parameters (TensorBoard's hparams, W&B's config,
MLflow's params), each epoch's metrics record, and, at each validation, a few images: samples
from the model and reconstructions of fixed validation images (TensorBoard)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch

from vaelab.errors import ConfigError


class Callback:
    """Hooks the trainer calls on the main process."""

    def on_start(self, run_dir: Path, config: dict) -> None:
        """Before the first epoch; ``config`` is the run's config.json document."""

    def on_epoch_end(self, record: dict) -> None:
        """After each epoch's checkpoint, with its metrics record."""

    def on_validation(self, epoch: int, model, x: torch.Tensor) -> None:
        """After a validation pass: the model (in evaluation mode) and a few fixed validation
        examples ``x`` on the model's device."""

    def on_end(self, record: dict) -> None:
        """When training stops for any reason, with the last record."""


def flat_params(config: dict) -> dict[str, str | int | float | bool]:
    """The run's training configuration as flat ``section.option`` parameters (a component's
    options under its section: ``model.layers``), plus the model's recorded arguments."""
    out: dict = {}

    def walk(prefix: str, obj) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(obj, (list, tuple)):
            out[prefix] = ",".join(map(str, obj))
        elif obj is not None:
            out[prefix] = obj
    train = config.get("train", {})
    for section, values in train.items():
        walk(section, {k.replace("_args", ""): v for k, v in values.items()}
             if isinstance(values, dict) else values)
    # the model as built, every option resolved (config.json's "model" spec)
    walk("model", config.get("model", {}).get("args", {}))
    return out


IMAGES = 16  # samples and reconstructions logged at each validation


class TensorBoardLogger(Callback):
    """Scalars every epoch, hyperparameters once, sample and reconstruction grids at each
    validation (not for autoregressive decoders, whose every image is 784 network passes)."""

    def on_start(self, run_dir: Path, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        self.writer = SummaryWriter(str(run_dir / "tb"))
        params = {k: v for k, v in flat_params(config).items()
                  if isinstance(v, (int, float, str, bool))}
        # hparams in this run's own event file (add_hparams would open a second run folder)
        file_writer = self.writer.file_writer
        assert file_writer is not None  # SummaryWriter opens it on construction
        for summary in hparams(params, {"valid_bound": float("nan")}):
            file_writer.add_summary(summary)

    def on_epoch_end(self, record: dict) -> None:
        for key, val in record.items():
            if key != "epoch" and isinstance(val, (int, float)):
                self.writer.add_scalar(key, val, record["epoch"])
            if key.startswith("valid_L"):
                self.writer.add_scalar("valid_bound", val, record["epoch"])

    def on_validation(self, epoch: int, model, x: torch.Tensor) -> None:
        if model.capabilities.autoregressive_decoder or len(model.x_shape) != 3:
            return
        devices = [x.device] if x.device.type == "cuda" else []
        # its own random stream: logging images must not change the training's draws
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(epoch)
            samples = model.sample(IMAGES).clamp(0, 1).cpu()
            recon = model.reconstruct(x[:IMAGES]).clamp(0, 1).cpu()
        self.writer.add_images("samples", samples, epoch)
        self.writer.add_images("reconstructions", torch.cat([x[:IMAGES].cpu(), recon]), epoch)

    def on_end(self, record: dict) -> None:
        self.writer.close()


def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--loggers {extra} needs the {module} package: pip install "
                          f"'vaelab[{extra}]'") from None


class WandbLogger(Callback):
    def __init__(self) -> None:
        self.wandb = _require("wandb", "wandb")

    def on_start(self, run_dir: Path, config: dict) -> None:
        self.run = self.wandb.init(dir=str(run_dir), name=run_dir.name,
                                   config=flat_params(config), resume="allow")

    def on_epoch_end(self, record: dict) -> None:
        self.run.log({k: v for k, v in record.items() if k != "epoch"}, step=record["epoch"])

    def on_end(self, record: dict) -> None:
        self.run.finish()


class MLflowLogger(Callback):
    """Params (the flat configuration, in batches of MLflow's 100), metrics every epoch, and
    config.json as an artifact."""

    def __init__(self) -> None:
        self.mlflow = _require("mlflow", "mlflow")

    def on_start(self, run_dir: Path, config: dict) -> None:
        self.mlflow.start_run(run_name=run_dir.name)
        params = [(k, str(v)[:500]) for k, v in flat_params(config).items()]
        for i in range(0, len(params), 100):
            self.mlflow.log_params(dict(params[i:i + 100]))
        self.mlflow.log_dict(config, "config.json")

    def on_epoch_end(self, record: dict) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in record.items()
                                 if k != "epoch" and isinstance(v, (int, float))},
                                step=record["epoch"])

    def on_end(self, record: dict) -> None:
        self.mlflow.end_run()


LOGGERS = {"wandb": WandbLogger, "mlflow": MLflowLogger}
_warned_tensorboard = False


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def make_loggers(names: tuple[str, ...]) -> list[Callback]:
    """TensorBoard (when installed) and the named loggers, each checked importable."""
    global _warned_tensorboard
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(f"unknown logger {', '.join(unknown)}: choose from "
                          f"{', '.join(LOGGERS)} (TensorBoard is on when installed)")
    loggers: list[Callback] = [LOGGERS[n]() for n in names]
    if tensorboard_available():  # last: remote loggers, which can fail, start first
        return [*loggers, TensorBoardLogger()]
    if not _warned_tensorboard:
        _warned_tensorboard = True
        warnings.warn("TensorBoard is not installed, so the run has no tb/ logs: pip install "
                      "'vaelab[tensorboard]'", stacklevel=2)
    return loggers


def start_loggers(loggers: list[Callback], run_dir: Path, doc: dict) -> None:
    """Start every logger, or none: a logger that fails to start (no network, no login) stops
    the run with one line before its first epoch; the ones already started are closed."""
    started: list[Callback] = []
    for cb in loggers:
        try:
            cb.on_start(run_dir, doc)
        except Exception as e:
            for s in started:
                try:
                    s.on_end({})
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
            name = type(cb).__name__
            raise ConfigError(f"the logger {name} failed to start ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); fix it, or train "
                              "without it") from None
        started.append(cb)
