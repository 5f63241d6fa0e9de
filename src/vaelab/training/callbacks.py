"""Loggers as callbacks: TensorBoard built in; Weights & Biases and MLflow when installed
(``pip install 'vaelab[wandb]'`` / ``'vaelab[mlflow]'``), never required."""

from __future__ import annotations

from pathlib import Path

from vaelab.errors import ConfigError


class Callback:
    """Hooks the trainer calls on the main process."""

    def on_start(self, run_dir: Path, config: dict) -> None:
        """Before the first epoch; ``config`` is the run's config.json document."""

    def on_epoch_end(self, record: dict) -> None:
        """After each epoch's checkpoint, with its metrics record."""

    def on_end(self, record: dict) -> None:
        """When training stops for any reason, with the last record."""


class TensorBoardLogger(Callback):
    def on_start(self, run_dir: Path, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "tb"))

    def on_epoch_end(self, record: dict) -> None:
        for key, val in record.items():
            if key != "epoch" and isinstance(val, (int, float)):
                self.writer.add_scalar(key, val, record["epoch"])

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
        self.run = self.wandb.init(dir=str(run_dir), name=run_dir.name, config=config,
                                   resume="allow")

    def on_epoch_end(self, record: dict) -> None:
        self.run.log({k: v for k, v in record.items() if k != "epoch"}, step=record["epoch"])

    def on_end(self, record: dict) -> None:
        self.run.finish()


class MLflowLogger(Callback):
    def __init__(self) -> None:
        self.mlflow = _require("mlflow", "mlflow")

    def on_start(self, run_dir: Path, config: dict) -> None:
        self.mlflow.start_run(run_name=run_dir.name)
        self.mlflow.log_dict(config, "config.json")

    def on_epoch_end(self, record: dict) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in record.items()
                                 if k != "epoch" and isinstance(v, (int, float))},
                                step=record["epoch"])

    def on_end(self, record: dict) -> None:
        self.mlflow.end_run()


LOGGERS = {"wandb": WandbLogger, "mlflow": MLflowLogger}


def make_loggers(names: tuple[str, ...]) -> list[Callback]:
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(f"unknown logger {', '.join(unknown)}: choose from "
                          f"{', '.join(LOGGERS)} (TensorBoard is always on)")
    return [TensorBoardLogger(), *(LOGGERS[n]() for n in names)]
