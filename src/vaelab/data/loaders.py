"""Named data sets: static binarized MNIST, grayscale MNIST, Frey faces, Omniglot, the embedded
subset, and a user's own ``.npy``/``.npz`` file. Each returns an :class:`ImageDataset`."""

from __future__ import annotations

import gzip
import struct
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from vaelab.data.dataset import SPLITS, ImageDataset, to_images
from vaelab.data.sources import cache_dir, digest, fetch, find_file
from vaelab.errors import DataError

BMNIST_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/binarized_mnist_{}.amat"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/{}"
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FREY_URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
OMNIGLOT_URL = "https://github.com/yburda/iwae/raw/master/datasets/OMNIGLOT/chardata.mat"


def _split_valid(train: torch.Tensor, n_valid: int, seed: int = 0):
    """Hold out ``n_valid`` rows of ``train`` (fixed seed) as a validation split."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(train), generator=g)
    return train[perm[n_valid:]], train[perm[:n_valid]]


def read_amat(path: Path, what: str) -> np.ndarray:
    """Larochelle's ``.amat``: one image per line, 784 space-separated 0/1 values."""
    try:
        a = np.loadtxt(path, dtype=np.float32)
    except ValueError as e:
        raise DataError(f"{what}: {path} is not a valid .amat text file ({e}); "
                        "delete it so it is downloaded again") from None
    if a.ndim != 2 or a.shape[1] != 784 or not np.isin(a, (0, 1)).all():
        raise DataError(f"{what}: {path} should hold rows of 784 binary values, got shape "
                        f"{a.shape}; delete it so it is downloaded again")
    return a.astype(np.uint8)


def _images(a, what: str, image_shape=None) -> torch.Tensor:
    return to_images(a, what, image_shape)[0]


def binarized_mnist() -> ImageDataset:
    """Static binarized MNIST, the Larochelle & Murray (2011) 50k/10k/10k split.

    Reads ``binarized_mnist.npz`` (keys train/valid/test) or the upstream ``.amat`` files from
    the data directories; otherwise downloads the ``.amat`` files and converts them once into
    ``binarized_mnist.npz`` in the cache."""
    npz = find_file("binarized_mnist.npz")
    if npz is None:
        names = [f"binarized_mnist_{s}.amat" for s in SPLITS]
        paths = fetch(names, [BMNIST_URL.format(s) for s in SPLITS], "static binarized MNIST")
        arrays = {s: read_amat(p, "binarized_mnist") for s, p in zip(SPLITS, paths)}
        npz = cache_dir() / "binarized_mnist.npz"
        npz.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(npz, train=arrays["train"], valid=arrays["valid"],
                            test=arrays["test"])
    try:
        with np.load(npz) as d:
            arrays = {s: d[s] for s in SPLITS}
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"binarized_mnist: {npz} is corrupt or lacks train/valid/test ({e}); "
                        "delete it and load again") from None
    expected = {"train": 50000, "valid": 10000, "test": 10000}
    for s, a in arrays.items():
        if a.shape != (expected[s], 784):
            raise DataError(f"binarized_mnist: split {s} has shape {a.shape}, expected "
                            f"({expected[s]}, 784); the file {npz} is not the standard split")
    t = {s: _images(a, f"binarized_mnist/{s}") for s, a in arrays.items()}
    labels = {}
    lab = find_file("binarized_mnist_test_labels.npz")
    if lab is not None:
        with np.load(lab) as d:
            labels["test"] = torch.as_tensor(d["labels"].astype(np.int64))
    return ImageDataset("binarized_mnist", t["train"], t["valid"], t["test"], binary=True,
                        source=str(npz), labels=labels)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not), as used by MNIST: magic, dims, then raw uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("bad magic number (expected uint8 IDX)")
        dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        return data.reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise DataError(f"{path} is not a valid IDX file ({e}); delete it so it is downloaded "
                        "again") from None


def mnist(binarize: str = "dynamic", n_valid: int = 10000, seed: int = 0) -> ImageDataset:
    """Grayscale MNIST from the IDX files, binarized ``dynamic`` (fresh Bernoulli sample every use,
    Burda et al. 2015), ``static`` (one Bernoulli sample with a fixed seed) or ``none``.

    The last ``n_valid`` training images are the validation split. Offline, without the training
    images at hand, this raises an error that lists the paths searched and the URLs."""
    test_names = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    train_names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    names = train_names + test_names
    paths = fetch(names, [MNIST_URL.format(n) for n in names], "MNIST",
                  [MNIST_MD5[n] for n in names], subdir="mnist")
    xs, ys = read_idx(paths[0]), read_idx(paths[1])
    xt, yt = read_idx(paths[2]), read_idx(paths[3])
    return mnist_from_arrays(xs, ys, xt, yt, binarize, n_valid, seed)


def mnist_from_arrays(x_train, y_train, x_test, y_test, binarize="dynamic", n_valid=10000,
                      seed=0) -> ImageDataset:
    if len(x_train) <= n_valid:
        raise DataError(f"mnist: {len(x_train)} training images cannot give {n_valid} for "
                        "validation; lower n_valid")
    tr, te = _images(x_train, "mnist"), _images(x_test, "mnist")
    labels = {"train": torch.as_tensor(y_train[:-n_valid].astype(np.int64)),
              "valid": torch.as_tensor(y_train[-n_valid:].astype(np.int64)),
              "test": torch.as_tensor(y_test.astype(np.int64))}
    d = ImageDataset("mnist", tr[:-n_valid], tr[-n_valid:], te, binary=False, levels=256,
                     source="MNIST IDX files", labels=labels, default_binarize="dynamic")
    return d.binarized(binarize, seed)


def mnist_test(binarize: str = "none", seed: int = 0) -> ImageDataset:
    """The 10,000 grayscale MNIST *test* images with labels, split 8000/1000/1000 (fixed seed):
    labelled data for class-conditional models on machines without the training images."""
    names = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    paths = fetch(names, [MNIST_URL.format(n) for n in names], "MNIST test set",
                  [MNIST_MD5[n] for n in names], subdir="mnist")
    x = _images(read_idx(paths[0]), "mnist_test")
    y = torch.as_tensor(read_idx(paths[1]).astype(np.int64))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    parts = {"train": perm[:8000], "valid": perm[8000:9000], "test": perm[9000:]}
    d = ImageDataset("mnist_test", x[parts["train"]], x[parts["valid"]], x[parts["test"]],
                     binary=False, levels=256,
                     source="MNIST test images split 8000/1000/1000",
                     labels={s: y[p] for s, p in parts.items()})
    return d.binarized(binarize, seed)


def freyfaces(n_valid: int = 200, n_test: int = 200) -> ImageDataset:
    """Frey faces (1965 images, 28x20, 8-bit grey): ``freyfaces.npz`` (key ``faces``) or the
    upstream ``frey_rawface.mat``. Split with a fixed seed into train/valid/test. Kingma &
    Welling modelled them with a Gaussian decoder, the default here."""
    p = find_file("freyfaces.npz")
    if p is not None:
        with np.load(p) as d:
            faces = d["faces"]
    else:
        from vaelab.data.sources import require_scipy

        loadmat = require_scipy("Frey faces' .mat file")
        (p,) = fetch(["frey_rawface.mat"], [FREY_URL], "Frey faces")
        faces = loadmat(p)["ff"].T
    x = _images(np.asarray(faces).reshape(len(faces), -1), "freyfaces", (1, 28, 20))
    g = torch.Generator().manual_seed(0)
    x = x[torch.randperm(len(x), generator=g)]
    return ImageDataset("freyfaces", x[n_valid + n_test:], x[:n_valid],
                        x[n_valid:n_valid + n_test], binary=False, levels=256, source=str(p),
                        preferred_likelihood="gaussian")


def omniglot(path: Path | None = None, binarize: str = "dynamic", n_valid: int = 1345,
             seed: int = 0) -> ImageDataset:
    """Omniglot as Burda et al. used it: ``chardata.mat`` with ``data`` (784 x N) and
    ``testdata``, column-major 28x28 images, grey levels in [0, 1]."""
    from vaelab.data.sources import require_scipy

    loadmat = require_scipy("Omniglot's chardata.mat")
    if path is None:
        (path,) = fetch(["chardata.mat"], [OMNIGLOT_URL], "Omniglot (chardata.mat)")
    try:
        m = loadmat(path)
        train, test = m["data"].T.astype(np.float32), m["testdata"].T.astype(np.float32)
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"omniglot: {path} is not Burda's chardata.mat ({e})") from None

    def fix(a):  # Burda's Fortran-order flattening -> row-major 28x28
        return a.reshape(-1, 28, 28, order="F")

    tr, te = _images(fix(train), "omniglot"), _images(fix(test), "omniglot")
    tr, va = _split_valid(tr, min(n_valid, len(tr) // 10), seed)
    d = ImageDataset("omniglot", tr, va, te, binary=False, source=str(path),
                     default_binarize="dynamic")
    return d.binarized(binarize, seed)


def embedded() -> ImageDataset:
    """A 6000/1000/1000 subset of static binarized MNIST shipped in the package (bit-packed)."""
    ref = resources.files("vaelab.data") / "embedded" / "binarized_mnist_small.npz"
    with resources.as_file(ref) as p, np.load(p) as d:
        t = {s: torch.as_tensor(np.unpackbits(d[s], axis=1)[:, :784]).float().view(-1, 1, 28, 28)
             for s in SPLITS}
    return ImageDataset("embedded", t["train"], t["valid"], t["test"], binary=True,
                        source="package data: 6000/1000/1000 subset of static binarized MNIST")


def from_array(arrays: dict | np.ndarray | torch.Tensor, name: str = "array",
               image_shape: tuple | None = None, n_valid_frac: float = 0.1,
               seed: int = 0, identity: dict | None = None) -> ImageDataset:
    """A user's own images: one array (split 80/10/10 with a fixed seed) or a dict with ``train``
    and optionally ``valid``/``test``. Any layout ``to_images`` reads; validated like the rest."""
    if not isinstance(arrays, dict):
        x, _, _ = to_images(arrays, name, image_shape)
        g = torch.Generator().manual_seed(seed)
        x = x[torch.randperm(len(x), generator=g)]
        n = max(1, int(len(x) * n_valid_frac))
        if len(x) < 3 * n:
            raise DataError(f"{name}: only {len(x)} images; need at least 3 to split")
        splits = {"train": x[2 * n:], "valid": x[:n], "test": x[n:2 * n]}
    else:
        if "train" not in arrays:
            raise DataError(f"{name}: the .npz needs a 'train' array (found keys: "
                            f"{', '.join(arrays) or 'none'})")
        splits = {s: to_images(a, f"{name}/{s}", image_shape)[0] for s, a in arrays.items()
                  if s in SPLITS}
        if "valid" not in splits:
            if len(splits["train"]) < 2:
                raise DataError(f"{name}: 'train' needs at least 2 images to hold out a "
                                "validation split (or give a 'valid' array)")
            splits["train"], splits["valid"] = _split_valid(
                splits["train"], max(1, int(len(splits["train"]) * n_valid_frac)), seed)
        splits.setdefault("test", splits["valid"])
    all_x = torch.cat([t.flatten() for t in splits.values()])
    binary = bool(((all_x == 0) | (all_x == 1)).all())
    scaled = all_x * 255
    levels = None if binary or not torch.equal(scaled, scaled.round()) else 256
    return ImageDataset(name, splits["train"], splits["valid"], splits["test"], binary=binary,
                        levels=levels, source=name, identity=identity or {"name": name})


def read_arrays(path: str | Path) -> dict | np.ndarray:
    """The arrays of a ``.npy`` or ``.npz`` file, read fully (every read error a DataError)."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"data file {p} is a directory; give the path to a .npy or .npz file")
    if not p.is_file():
        raise DataError(f"data file {p} does not exist; give the path to a .npy or .npz file")
    if p.suffix not in (".npy", ".npz"):
        raise DataError(f"{p}: unsupported file type '{p.suffix}'; save the images with "
                        "numpy.save (.npy) or numpy.savez (.npz)")
    try:
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded as d:
            return {k: d[k] for k in d.keys()}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError) as e:
        raise DataError(f"{p} could not be read as a numpy file ({type(e).__name__}: {e}); it "
                        "may be truncated or hold Python objects: re-save it with numpy") from None


def from_file(path: str | Path, image_shape: tuple | None = None,
              whole: bool = False) -> ImageDataset:
    """Load ``.npy`` (one array) or ``.npz`` (``train``/``valid``/``test`` keys, or one array).
    One array is split 80/10/10 with a fixed seed, or with ``whole`` used whole as every split
    (evaluating a trained model on a file). The identity is the absolute path and sha256."""
    p = Path(path)
    arrays = read_arrays(p)
    identity = {"path": str(p.resolve()), "sha256": digest(p, "sha256")}
    if isinstance(arrays, dict) and len(arrays) == 1 and next(iter(arrays)) not in SPLITS:
        arrays = next(iter(arrays.values()))
    if whole:  # every split present: a single array, or whichever splits the file has
        present = arrays if isinstance(arrays, dict) else {"test": arrays}
        have = [present[k] for k in ("test", "valid", "train") if k in present]
        if not have:
            raise DataError(f"{p}: no array named train, valid or test (found "
                            f"{', '.join(present) or 'none'})")
        arrays = {s: present.get(s, have[0]) for s in SPLITS}
    return from_array(arrays, name=p.name, image_shape=image_shape, identity=identity)
