"""Data sets: static/dynamic binarized MNIST, Frey faces, Omniglot, an embedded subset, files."""

from vaelab.data.batches import TensorBatches
from vaelab.data.dataset import ImageDataset, is_binary, require_binary, to_unit_float
from vaelab.data.loaders import (
    binarized_mnist,
    embedded,
    freyfaces,
    from_array,
    from_file,
    mnist,
    omniglot,
    read_idx,
)
from vaelab.data.registry import DATASETS, available, load_dataset

__all__ = [
    "DATASETS", "ImageDataset", "TensorBatches", "available", "binarized_mnist", "embedded",
    "freyfaces", "from_array", "from_file", "is_binary", "load_dataset", "mnist", "omniglot",
    "read_idx", "require_binary", "to_unit_float",
]
