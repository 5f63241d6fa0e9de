"""``load_dataset(name)``: one entry point for named data sets and files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vaelab.data import loaders, shapes
from vaelab.data.dataset import ImageDataset
from vaelab.data.sources import find_file
from vaelab.errors import DataError

DATASETS: dict[str, tuple[Callable[..., ImageDataset], str, list[str]]] = {
    "embedded": (loaders.embedded, "6000/1000/1000 static binarized MNIST subset (in package)",
                 []),
    "binarized_mnist": (loaders.binarized_mnist, "static binarized MNIST (Larochelle & Murray)",
                        ["binarized_mnist.npz", "binarized_mnist_train.amat"]),
    "mnist": (loaders.mnist, "grayscale MNIST, dynamically binarized (Burda et al.)",
              ["train-images-idx3-ubyte.gz", "mnist/train-images-idx3-ubyte.gz"]),
    "mnist_test": (loaders.mnist_test, "MNIST test images with labels, split 8000/1000/1000",
                   ["t10k-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz"]),
    "freyfaces": (loaders.freyfaces, "Frey faces, continuous 28x20 (Gaussian decoder)",
                  ["freyfaces.npz", "frey_rawface.mat"]),
    "shapes": (shapes.shapes, "procedural dSprites-style shapes, 64x64, 5 known factors", []),
    "shapes_small": (lambda: shapes.shapes(small=True), "648-image version of shapes", []),
    "omniglot": (loaders.omniglot, "Omniglot 28x28 (Burda's chardata.mat), dynamic binarization",
                 ["chardata.mat"]),
}


def load_dataset(name: str, binarize: str | None = None) -> ImageDataset:
    """A named data set (see ``DATASETS``) or a path to a ``.npy``/``.npz`` file."""
    if name in DATASETS:
        fn = DATASETS[name][0]
        takes = ("mnist", "omniglot", "mnist_test")
        return fn(binarize=binarize) if binarize and name in takes else fn()
    if name.endswith((".npy", ".npz")) or Path(name).exists():
        return loaders.from_file(name)
    raise DataError(f"unknown data set '{name}': choose one of {', '.join(DATASETS)}, "
                    "or give a path to a .npy/.npz file")


def available() -> list[dict]:
    """Each named data set with where it was found locally (None if it would be downloaded)."""
    rows = []
    for name, (_, desc, files) in DATASETS.items():
        where = "package" if name == "embedded" else "generated" if not files else next(
            (str(p) for p in (find_file(f) for f in files) if p), None)
        rows.append({"name": name, "description": desc, "found": where})
    return rows
