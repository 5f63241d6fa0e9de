"""The Python entry points: ``vaelab.train`` and ``vaelab.load``::

    import vaelab
    run = vaelab.train(model=MyModel(latent=8), data=images, out="runs/mine", epochs=5,
                       objective="iwae", k=5, estimator="dreg")
    model = vaelab.load("runs/mine")      # anywhere, without the training data

``vaelab.load_run`` gives the run (configuration, model, data on demand).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaelab.data import ImageDataset, from_array
from vaelab.errors import ConfigError, DataError
from vaelab.models.base import Model
from vaelab.models.registry import spec
from vaelab.training import trainer
from vaelab.training.callbacks import Callback
from vaelab.training.config import RunConfig, config_from_file
from vaelab.training.run import load, load_run

__all__ = ["TrainResult", "as_dataset", "load", "load_run", "train"]


@dataclass
class TrainResult:
    """What ``train`` returns: the trained model (its last state), the last epoch's metrics
    record, and the run directory (``vaelab.load(result.out)`` gives the best checkpoint)."""

    model: Model
    record: dict
    out: Path


def as_dataset(data: Any, image_shape: tuple | None = None) -> ImageDataset:
    """An :class:`ImageDataset` from images as a tensor or array (any layout ``to_images``
    reads; split 80/10/10 with a fixed seed) or a ``torch.utils.data.Dataset`` (an item, or
    the first element of each item, is one image)."""
    if isinstance(data, ImageDataset):
        return data
    if isinstance(data, torch.utils.data.Dataset) and not torch.is_tensor(data):
        try:
            items = [data[i] for i in range(len(data))]  # type: ignore[arg-type]
        except TypeError as e:
            raise DataError(f"the Dataset must have a length and integer indexing ({e})"
                            ) from None
        items = [it[0] if isinstance(it, (tuple, list)) else it for it in items]
        data = torch.stack([torch.as_tensor(it) for it in items])
    if not (torch.is_tensor(data) or isinstance(data, np.ndarray)):
        raise DataError(f"data must be a tensor, an array, a torch Dataset, an ImageDataset, a "
                        f"data set name or a file path, not {type(data).__name__}")
    arr = data.detach().cpu().numpy() if torch.is_tensor(data) else np.asarray(data)
    sha = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
    return from_array(arr, name="tensor", image_shape=image_shape,
                      identity={"name": "tensor", "sha256": sha, "shape": list(arr.shape)})


def train(model: Model | str | None = None, data: Any = None, out: str | Path | None = None, *,
          config: RunConfig | dict | str | Path | None = None, resume: bool = False,
          overwrite: bool = False, progress: bool = True,
          callbacks: list[Callback] | None = None, **options) -> TrainResult:
    """Train into the run directory ``out``.

    - ``model``: a :class:`~vaelab.models.base.Model` instance, or a name (``"vae"``,
      ``"my_pkg.mod:MyModel"``, ``"file.py:MyModel"``); default from ``config``/options.
    - ``data``: images (tensor, array, ``torch.utils.data.Dataset``, ``ImageDataset``), a
      registered data set name, or a ``.npy``/``.npz`` path.
    - ``config``: a RunConfig, its nested dict, or a JSON/YAML file; ``options`` (the command
      line's names: ``epochs=5, objective="iwae", k=5, beta=4``) override it.
    - ``resume``: continue the run in ``out``; options may change only the settings that may
      change.
    """
    if out is None:
        raise ConfigError("train needs out=, the run directory to write")
    if isinstance(model, str):
        options["model"] = model
    if isinstance(data, (str, Path)):
        options["dataset"] = str(data)
    dataset = None if data is None or isinstance(data, (str, Path)) else \
        as_dataset(data, options.get("image_shape") or None)
    if isinstance(model, Model):
        s = spec(model)
        options.setdefault("model", s.get("name") or s["class"])
        options.setdefault("model_args", s["args"])
    if dataset is not None:
        options["dataset"] = dataset.name
    if resume:
        cfg = trainer.resume_config(RunConfig.load(out), options)
    else:
        base: RunConfig | None
        if isinstance(config, (str, Path)):
            base = config_from_file(config)
        elif isinstance(config, dict):
            base = RunConfig.from_dict(config)
        else:
            base = config
        cfg = RunConfig.from_options(options, base)
    instance = model if isinstance(model, Model) else None
    record = trainer.train(cfg, out, model=instance, data=dataset, resume=resume,
                           overwrite=overwrite, progress=progress, callbacks=callbacks)
    trained = instance if instance is not None else load(out, "last")
    return TrainResult(trained, record, Path(out))
