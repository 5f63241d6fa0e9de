"""Trained runs, loaded from their directory alone.

``load(run_dir)`` rebuilds the model from config.json and the checkpoint, without touching the
training data; ``load_run`` also finds the data when a command needs it (by registry name, or by
the recorded file path checked against its sha256), or takes another file (``data=``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vaelab.data import ImageDataset
from vaelab.data.dataset import parse_image_shape
from vaelab.data.loaders import from_file
from vaelab.data.registry import check_likelihood, data_from_identity
from vaelab.errors import CheckpointError, ConfigError, DataError
from vaelab.models.base import Model
from vaelab.models.registry import from_spec
from vaelab.training.checkpoint import load_checkpoint, load_latest, restore
from vaelab.training.config import RunConfig
from vaelab.training.rundir import RunDir
from vaelab.training.trainer import resolve_device


@dataclass
class Run:
    """A trained run: its configuration, the model (on ``device``, in eval mode), and its data,
    loaded on first use. ``data_file`` replaces the recorded data (``--data``)."""

    path: Path
    config: RunConfig
    doc: dict
    model: Model
    header: dict
    device: torch.device
    data_file: str | None = None
    _data: ImageDataset | None = field(default=None, repr=False)

    @property
    def likelihood(self) -> str:
        return self.doc.get("data", {}).get("likelihood", "")

    @property
    def data(self) -> ImageDataset:
        if self._data is None:
            self._data = self._load_data()
        return self._data

    def _load_data(self) -> ImageDataset:
        shape = parse_image_shape(self.config.data.image_shape)
        if self.data_file is not None:
            data = from_file(self.data_file, shape or None, whole=True)
        else:
            identity = self.doc.get("data", {}).get("identity") or {"name":
                                                                    self.config.data.dataset}
            if identity.get("name") == "tensor":
                raise DataError(f"{self.path} was trained on data given in Python; evaluate it "
                                "on a file with --data FILE")
            data = data_from_identity(identity, shape)
        data = data.binarized(self.config.data.binarize)
        if tuple(data.image_shape) != tuple(self.model.x_shape):
            raise DataError(f"{data.name} holds examples of shape {list(data.image_shape)}, the "
                            f"model takes {list(self.model.x_shape)}; give data of that shape "
                            "(--image-shape for flat files)")
        if self.likelihood:
            check_likelihood(data, self.likelihood)
        return data

    def split(self, name: str) -> torch.Tensor:
        return self.data.split(name)


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str = "auto",
             data: str | Path | None = None, model: Model | type | None = None) -> Run:
    """Config and trained model of a run (``checkpoint``: best or last); the data on demand.
    ``model``: the class to rebuild (with the recorded arguments) or an instance to load the
    weights into, for a class the run cannot import itself (defined in a notebook)."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise CheckpointError(f"run directory {run.path} does not exist; give the --out "
                              "directory of a `vaelab train` run")
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"--checkpoint must be best or last, not {checkpoint!r}")
    doc = run.read_doc()
    cfg = RunConfig.from_dict(doc["train"])
    dev = resolve_device(device)
    if isinstance(model, Model):
        pass
    elif isinstance(model, type):
        model = from_spec(doc["model"], run.path, cls=model)
    else:
        model = from_spec(doc["model"], run.path)
    tensors = None
    if checkpoint == "best" and run.best.is_file():
        try:
            tensors, header = load_checkpoint(run.best)
        except CheckpointError as e:
            warnings.warn(f"{e}; using the last checkpoint instead", stacklevel=2)
    if tensors is None:
        tensors, header, _ = load_latest(run.last)
    restore(tensors, header, {"model": model})
    model.to(dev).eval()
    return Run(run.path, cfg, doc, model, header, dev, None if data is None else str(data))


def load(run_dir: str | Path, checkpoint: str = "best", device: str = "auto",
         model: Model | type | None = None) -> Model:
    """The trained model of a run directory, without its training data (``model``: see
    ``load_run``)."""
    return load_run(run_dir, checkpoint, device, model=model).model
