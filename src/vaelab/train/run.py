"""Run directories: build the data, model and estimator a config describes, and load them back.

RUN_DIR/config.json            train config, model config, data summary
RUN_DIR/checkpoints/{last,best}.safetensors
RUN_DIR/metrics.jsonl          one JSON object per epoch
RUN_DIR/tb/                    TensorBoard logs
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vaelab.data import ImageDataset, load_dataset, require_binary
from vaelab.errors import CheckpointError, ConfigError
from vaelab.estimators import Estimator, make_estimator
from vaelab.models import VAE, VAEConfig
from vaelab.models.conv_vae import ConvVAE, ConvVAEConfig
from vaelab.models.pixelvae import PixelCNNDensity, PixelVAE, PixelVAEConfig
from vaelab.models.vqvae import VQVAE, VQConfig
from vaelab.train.checkpoint import load_checkpoint, restore
from vaelab.train.config import TrainConfig


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} asked for, but no CUDA GPU is available; use --device "
                          "cpu or auto")
    return torch.device(name)


def build_data(cfg: TrainConfig) -> ImageDataset:
    binarize = None if cfg.binarize == "auto" else cfg.binarize
    data = load_dataset(cfg.dataset, binarize)
    if _likelihood(cfg, data) == "bernoulli" and not data.dynamic_binarize:
        for s in ("train", "valid", "test"):
            require_binary(data.split(s), f"{data.name}/{s}")
    return data


def _likelihood(cfg: TrainConfig, data: ImageDataset) -> str:
    return data.likelihood if cfg.likelihood == "auto" else cfg.likelihood


def build_model(cfg: TrainConfig, data: ImageDataset) -> nn.Module:
    levels = 2 if _likelihood(cfg, data) == "bernoulli" else 256
    if cfg.model == "pixelcnn":
        return PixelCNNDensity(data.image_shape, max(cfg.pixel_layers, 1), cfg.pixel_channels,
                               levels=levels)
    if cfg.model in ("vqvae", "vqvae2"):
        return VQVAE(VQConfig(data.image_shape, cfg.num_codes, cfg.code_dim,
                              commitment=cfg.commitment, ema=cfg.ema, levels=levels,
                              hierarchical=cfg.model == "vqvae2"))
    if cfg.model == "betavae":
        return ConvVAE(ConvVAEConfig(data.image_shape, latent=cfg.latent or 10,
                                     hidden=cfg.hidden or 256))
    if cfg.model == "pixelvae":
        return PixelVAE(PixelVAEConfig(data.image_shape, latent=cfg.latent or 32,
                                       pixel_layers=cfg.pixel_layers,
                                       channels=cfg.pixel_channels, levels=levels))
    mc = VAEConfig.burda(cfg.layers, x_dim=data.dim, likelihood=_likelihood(cfg, data),
                         activation=cfg.activation)
    if cfg.hidden:
        mc.hidden = [[cfg.hidden] * len(h) for h in mc.hidden]
    if cfg.latent:
        mc.latent_dims[-1] = cfg.latent
    return VAE(mc)


def build_estimator(cfg: TrainConfig, data: ImageDataset) -> Estimator:
    est = make_estimator(cfg.estimator, cfg.objective, cfg.k, cfg.baseline, data.dim)
    est.free_bits = cfg.free_bits
    return est


class Objective(nn.Module):
    """Model + estimator as one module, so DDP sees a forward() that runs the whole estimate."""

    def __init__(self, model: nn.Module, estimator: Estimator) -> None:
        super().__init__()
        self.model, self.estimator = model, estimator

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.estimator(self.model, x)
        return -out.surrogate.mean(), out.bound.mean()


def write_config(run_dir: Path, cfg: TrainConfig, model: VAE, data: ImageDataset) -> None:
    doc = {"train": cfg.to_dict(), "model": model.config_dict(), "data": data.summary()}
    tmp = run_dir / "config.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(run_dir / "config.json")


@dataclass
class LoadedRun:
    config: TrainConfig
    data: ImageDataset
    model: VAE
    header: dict
    device: torch.device


def load_run(run_dir: str | Path, which: str = "best", device: str = "auto") -> LoadedRun:
    """Config, data and trained model of a run (``which``: best or last checkpoint)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist; give the --out directory "
                              "of a `vaelab train` run")
    cfg = TrainConfig.load(run_dir)
    dev = resolve_device(device)
    data = build_data(cfg)
    model = build_model(cfg, data)
    path = run_dir / "checkpoints" / f"{which}.safetensors"
    if which == "best" and not path.is_file():
        path = run_dir / "checkpoints" / "last.safetensors"
    tensors, header = load_checkpoint(path)
    restore(tensors, header, {"model": model})
    model.to(dev).eval()
    return LoadedRun(cfg, data, model, header, dev)
