"""Data sets: images ``[N, C, H, W]`` in [0, 1], by name or from a user's file."""

from vaelab.data.batches import TensorBatches
from vaelab.data.dataset import (
    ImageDataset,
    is_binary,
    parse_image_shape,
    require_binary,
    to_images,
)
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
from vaelab.data.registry import (
    DATASETS,
    DataConfig,
    available,
    data_from_identity,
    load_data,
    load_dataset,
)

__all__ = [
    "DATASETS", "DataConfig", "ImageDataset", "TensorBatches", "available", "binarized_mnist",
    "data_from_identity", "embedded", "freyfaces", "from_array", "from_file", "is_binary",
    "load_data", "load_dataset", "mnist", "omniglot", "parse_image_shape", "read_idx",
    "require_binary", "to_images",
]
