"""Trained runs, loaded from their directory alone.

``load(run_dir)`` rebuilds the model from config.json and the checkpoint, without touching the
training data; ``load_run`` also finds the data when a command needs it (by registry name, or by
the recorded file path checked against its sha256), or takes another file (``data=``).
"""

from __future__ import annotations

import html
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vaelab.data.dataset import ImageDataset, parse_image_shape
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

    def examples(self, split: str = "test", n: int = 0, seed: int = 0) -> torch.Tensor:
        """``n`` examples of a split (0: all), a random subset fixed by ``seed`` (splits may be
        sorted by class), binarized with that seed where the run's data is binarized
        dynamically; on the run's device. Every command that picks examples uses this."""
        from vaelab.eval.recipes import random_subset

        x = random_subset(self.split(split), n, seed)
        if self.data.dynamic_binarize:
            x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
        return x.to(self.device)

    @property
    def metrics(self) -> MetricsTable:
        """metrics.jsonl as a table: one row per epoch (``_repr_html_`` in a notebook,
        ``column(name)``, ``to_pandas()``)."""
        return MetricsTable(RunDir(self.path).read_metrics())

    def summary(self) -> dict:
        """What the run is and how far it got: model, data, epochs, best validation bound, and
        the test NLL where ``vaelab eval`` has written one."""
        rows = RunDir(self.path).read_metrics()
        spec = self.doc.get("model", {})
        valid = [v for r in rows for k, v in r.items() if k.startswith("valid_L")]
        out = {"run": str(self.path), "model": spec.get("name") or spec.get("class"),
               "data": self.doc.get("data", {}).get("name", self.config.data.dataset),
               "objective": self.config.objective.objective, "k": self.config.estimator.k,
               "epochs": rows[-1]["epoch"] if rows else 0,
               "schedule_epochs": self.config.optim.epochs,
               "best_valid_bound": max(valid) if valid else None,
               "checkpoint_epoch": self.header.get("meta", {}).get("epoch")}
        try:
            ev = json.loads((self.path / "eval-test.json").read_text())
            out.update(test_nll=ev["nll"], test_nll_stderr=ev["nll_stderr"],
                       test_nll_k=ev["nll_k"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return out

    def _repr_html_(self) -> str:
        s = self.summary()
        nll = (f"{s['test_nll']:.2f} &plusmn; {s['test_nll_stderr']:.2f} nats (K = "
               f"{s['test_nll_k']})" if "test_nll" in s else "not evaluated (vaelab eval)")
        best = "" if s["best_valid_bound"] is None else f"{s['best_valid_bound']:.2f} nats"
        rows = [("model", f"{s['model']} ({s['objective']}, K = {s['k']})"), ("data", s["data"]),
                ("epochs", f"{s['epochs']} of {s['schedule_epochs']}"),
                ("best validation bound", best), ("test NLL", nll)]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{v}</td></tr>" for k, v in rows)
        return (f"<div><b>vaelab run</b> <code>{html.escape(s['run'])}</code>"
                f"<table>{body}</table></div>")


class MetricsTable(list):
    """A run's metrics records (one dict per epoch) that show as a table in a notebook."""

    def columns(self) -> list[str]:
        return list(dict.fromkeys(k for r in self for k in r))

    def column(self, name: str) -> list:
        return [r.get(name) for r in self]

    def to_pandas(self):
        """A pandas DataFrame indexed by epoch (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("MetricsTable.to_pandas needs pandas: pip install pandas"
                              ) from None
        return pd.DataFrame(list(self)).set_index("epoch")

    def _repr_html_(self) -> str:
        cols = self.columns()

        def cell(v) -> str:
            return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c, ''))}</td>" for c in cols)
                       + "</tr>" for r in self)
        return f"<table><tr>{head}</tr>{body}</table>"


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
    run.settle()  # what an interrupted writer left is finished first: one whole run is read
    doc = run.read_doc()
    cfg = RunConfig.from_dict(doc["train"])
    dev = resolve_device(device)
    if isinstance(model, Model):
        built = model
    elif isinstance(model, type):
        built = from_spec(doc["model"], run.path, cls=model)
    else:
        built = from_spec(doc["model"], run.path)
    tensors, header = _read_checkpoint(run, checkpoint)
    restore(tensors, header, {"model": built})
    built.to(dev).eval()
    if built.capabilities.code_prior:  # the prior `vaelab prior` fitted, where there is one
        from vaelab.training.prior import load_prior

        built.set_code_prior(load_prior(run.path, dev))
    return Run(run.path, cfg, doc, built, header, dev, None if data is None else str(data))


def _read_checkpoint(run: RunDir, checkpoint: str) -> tuple[dict, dict]:
    """The best checkpoint (``checkpoint`` best, where it is whole), else the last one or the
    one before it, with a warning for each damaged file passed over."""
    tensors, damaged = None, None
    if checkpoint == "best" and run.best.is_file():
        try:
            tensors, header = load_checkpoint(run.best)
        except CheckpointError as e:
            damaged = e
    if tensors is not None:
        return tensors, header
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tensors, header, _ = load_latest(run.last)
    except CheckpointError:
        raise CheckpointError(f"every checkpoint in {run.checkpoints} is missing or damaged "
                              "(best, last and the one before it); the run cannot be "
                              "loaded: retrain it") from None
    for w in caught:
        warnings.warn(str(w.message), stacklevel=3)
    if damaged is not None:
        warnings.warn(f"{damaged}; using the last checkpoint instead", stacklevel=3)
    return tensors, header


def load(run_dir: str | Path, checkpoint: str = "best", device: str = "auto",
         model: Model | type | None = None) -> Model:
    """The trained model of a run directory, without its training data (``model``: see
    ``load_run``)."""
    return load_run(run_dir, checkpoint, device, model=model).model
