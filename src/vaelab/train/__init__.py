"""Training: config, loop, checkpoints, run directories, torch.distributed."""

from vaelab.train.checkpoint import load_checkpoint, restore, save_checkpoint
from vaelab.train.config import TrainConfig
from vaelab.train.run import LoadedRun, build_data, build_estimator, build_model, load_run
from vaelab.train.trainer import train

__all__ = ["LoadedRun", "TrainConfig", "build_data", "build_estimator", "build_model",
           "load_checkpoint", "load_run", "restore", "save_checkpoint", "train"]
