"""Training: run configuration, the trainer in small parts, checkpoints, run directories."""

from vaelab.training.callbacks import Callback, MLflowLogger, TensorBoardLogger, WandbLogger
from vaelab.training.checkpoint import load_checkpoint, restore, save_checkpoint
from vaelab.training.config import (
    DataConfig,
    EstimatorSpec,
    EvalConfig,
    ModelSpec,
    ObjectiveSpec,
    OptimConfig,
    RunConfig,
    RuntimeConfig,
    config_from_file,
)
from vaelab.training.run import Run, load, load_run
from vaelab.training.stack_trainer import train_stack
from vaelab.training.stacked import StackedRuns
from vaelab.training.trainer import build_parts, resolve_device, resume_config, train
from vaelab.training.whole_step import WholeStep

__all__ = ["Callback", "DataConfig", "EstimatorSpec", "EvalConfig", "MLflowLogger", "ModelSpec",
           "ObjectiveSpec", "OptimConfig", "Run", "RunConfig", "RuntimeConfig", "StackedRuns",
           "TensorBoardLogger", "WandbLogger", "build_parts", "config_from_file", "load",
           "load_checkpoint", "load_run", "restore", "resolve_device", "resume_config",
           "save_checkpoint", "train", "train_stack", "WholeStep"]
