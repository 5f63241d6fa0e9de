"""Data sets by name, and the run's data section: which data, binarized how, as what shape.

``load_data(DataConfig(...))`` is the one entry point: a registered name (``vaelab datasets``)
or a path to a ``.npy``/``.npz`` file, then binarization, then a check that the values suit the
likelihood (binary for Bernoulli, 8-bit levels for the discretized ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import vaelab.data.colour_shapes as colour_shapes
import vaelab.data.loaders as loaders
import vaelab.data.shapes as shapes
from vaelab.data.dataset import (
    BINARIZE,
    ImageDataset,
    parse_image_shape,
    require_binary,
    require_levels,
)
from vaelab.data.sources import digest, find_file
from vaelab.errors import DataError
from vaelab.registry import Registry, option

DATASETS = Registry("data set")
DATASETS.add("embedded", loaders.embedded,
             help="6000/1000/1000 static binarized MNIST subset (in the package)")
DATASETS.add("binarized_mnist", loaders.binarized_mnist,
             help="static binarized MNIST, 50k/10k/10k (Larochelle & Murray)")
DATASETS.add("mnist", loaders.mnist, help="grayscale MNIST, dynamically binarized (Burda et al.)")
DATASETS.add("mnist_test", loaders.mnist_test,
             help="MNIST test images with labels, split 8000/1000/1000 (8-bit grey)")
DATASETS.add("freyfaces", loaders.freyfaces, help="Frey faces, 28x20 8-bit grey (Gaussian "
             "decoder)")
DATASETS.add("shapes", shapes.shapes, help="procedural dSprites-style shapes, 64x64, 5 known "
             "factors")
DATASETS.add("shapes_small", lambda: shapes.shapes(small=True), help="648-image version of "
             "shapes")
DATASETS.add("colour_shapes", colour_shapes.colour_shapes,
             help="procedural coloured shapes, 32x32 RGB 8-bit, 6 known factors")
DATASETS.add("omniglot", loaders.omniglot, help="Omniglot 28x28 (Burda's chardata.mat), "
             "dynamically binarized")

# files that show a named data set is available locally (`vaelab datasets`)
LOCAL_FILES = {
    "binarized_mnist": ["binarized_mnist.npz", "binarized_mnist_train.amat"],
    "mnist": ["train-images-idx3-ubyte.gz", "mnist/train-images-idx3-ubyte.gz"],
    "mnist_test": ["t10k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz"],
    "freyfaces": ["freyfaces.npz", "frey_rawface.mat"],
    "omniglot": ["chardata.mat"],
}
LIKELIHOOD_CHOICES = ("auto", "bernoulli", "gaussian", "logistic", "categorical")


@dataclass
class DataConfig:
    dataset: str = option("embedded", "a registered data set (see `vaelab datasets`) or a "
                          ".npy/.npz file of images")
    binarize: str = option("auto", "Bernoulli-sample grey values: dynamic (fresh every use), "
                           "static (once, fixed seed), none, or the data set's default",
                           choices=BINARIZE)
    image_shape: str = option("", "C,H,W of flat data, e.g. 1,28,20 (or D for plain vectors); "
                              "empty: from the array")
    likelihood: str = option("auto", "observation model: bernoulli (binary data), gaussian, "
                             "logistic (discretized, 8-bit), categorical (256-way, 8-bit); "
                             "auto: from the data", choices=LIKELIHOOD_CHOICES)

    def __post_init__(self) -> None:
        if self.binarize not in BINARIZE:
            raise DataError(f"--binarize must be one of {', '.join(BINARIZE)}, not "
                            f"'{self.binarize}'")
        if self.likelihood not in LIKELIHOOD_CHOICES:
            raise DataError(f"--likelihood must be one of {', '.join(LIKELIHOOD_CHOICES)}, not "
                            f"'{self.likelihood}'")
        shape = parse_image_shape(self.image_shape)
        self.image_shape = ",".join(map(str, shape)) if shape else ""
        if self.dataset not in DATASETS and Path(self.dataset).is_file():
            self.dataset = str(Path(self.dataset).resolve())  # a run resumes from anywhere


def load_dataset(name: str, image_shape: tuple | None = None) -> ImageDataset:
    """A named data set (see ``DATASETS``) or a path to a ``.npy``/``.npz`` file."""
    if name in DATASETS:
        if image_shape is not None:
            raise DataError(f"--image-shape applies to a user's file, not to data set {name}")
        return DATASETS.get(name).target()
    if name.endswith((".npy", ".npz")) or Path(name).exists():
        return loaders.from_file(name, image_shape)
    raise DataError(f"unknown data set '{name}': choose one of {', '.join(DATASETS.names())}, "
                    "or give a path to a .npy/.npz file")


def likelihood_of(cfg: DataConfig, data: ImageDataset) -> str:
    return data.likelihood if cfg.likelihood == "auto" else cfg.likelihood


def check_likelihood(data: ImageDataset, likelihood: str) -> None:
    """Raise a one-line error when the values do not suit ``likelihood``."""
    if data.dynamic_binarize:
        if likelihood != "bernoulli":
            raise DataError(f"{data.name} is binarized dynamically: train it with the bernoulli "
                            f"likelihood, not {likelihood} (or --binarize none)")
        return
    for s in ("train", "valid", "test"):
        if likelihood == "bernoulli":
            require_binary(data.split(s), f"{data.name}/{s}")
        elif likelihood in ("logistic", "categorical"):
            require_levels(data.split(s), f"{data.name}/{s}", likelihood)


def load_data(cfg: DataConfig, seed: int = 0) -> tuple[ImageDataset, str]:
    """The data a run trains on, and its likelihood (validated against the values)."""
    data = load_dataset(cfg.dataset, parse_image_shape(cfg.image_shape))
    data = data.binarized(cfg.binarize, seed)
    likelihood = likelihood_of(cfg, data)
    check_likelihood(data, likelihood)
    return data, likelihood


def data_from_identity(identity: dict, image_shape: tuple | None = None) -> ImageDataset:
    """The data a run recorded: by registry name, or by file path checked against its sha256."""
    if "name" in identity and "path" not in identity:
        return load_dataset(identity["name"])
    path = Path(identity.get("path", ""))
    if not path.is_file():
        raise DataError(f"the run's data file {path} is not on this machine; give the data "
                        "with --data FILE")
    if identity.get("sha256") and digest(path, "sha256") != identity["sha256"]:
        raise DataError(f"the run's data file {path} has changed since training (sha256 "
                        "differs); pass it explicitly with --data FILE to use it anyway")
    return loaders.from_file(path, image_shape)


def available() -> list[dict]:
    """Each named data set with where it was found locally (None if it would be downloaded)."""
    rows = []
    for e in DATASETS.entries():
        files = LOCAL_FILES.get(e.name)
        where = "package" if e.name == "embedded" else "generated" if files is None else next(
            (str(p) for p in (find_file(f) for f in files) if p), None)
        rows.append({"name": e.name, "description": e.help, "found": where})
    return rows
