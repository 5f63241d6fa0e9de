import gzip
import struct

import numpy as np
import pytest
import torch

from vaelab.data import (
    binarized_mnist,
    embedded,
    freyfaces,
    from_file,
    load_dataset,
    loaders,
    mnist,
    omniglot,
    read_idx,
    require_binary,
    sources,
)
from vaelab.data.loaders import mnist_from_arrays, read_amat
from vaelab.errors import DataError


def test_embedded_is_a_binary_subset_of_static_mnist(monkeypatch):
    d = embedded()
    assert (len(d.train), len(d.valid), len(d.test)) == (6000, 1000, 1000)
    assert d.binary and d.likelihood == "bernoulli"
    assert set(torch.unique(d.train).tolist()) == {0.0, 1.0}
    # digits, not noise: mean ink ~ 13% as in MNIST
    assert 0.10 < float(d.train.mean()) < 0.16


def test_embedded_matches_the_full_split(shared_data):
    full = binarized_mnist()
    small = embedded()
    idx = np.load(loaders.resources.files("vaelab.data") / "embedded" /
                  "binarized_mnist_small.npz")["test_index"]
    assert torch.equal(full.test[torch.as_tensor(idx, dtype=torch.long)], small.test)


def test_binarized_mnist_from_shared(shared_data):
    d = binarized_mnist()
    assert (len(d.train), len(d.valid), len(d.test)) == (50000, 10000, 10000)
    assert d.dim == 784 and d.binary
    assert d.labels["test"].shape == (10000,)


def test_amat_reader(tmp_path):
    rows = (np.random.default_rng(0).random((3, 784)) > 0.5).astype(int)
    p = tmp_path / "x.amat"
    np.savetxt(p, rows, fmt="%d")
    assert np.array_equal(read_amat(p, "t"), rows)
    bad = tmp_path / "bad.amat"
    np.savetxt(bad, rows[:, :700], fmt="%d")
    with pytest.raises(DataError, match="784 binary values"):
        read_amat(bad, "t")


def test_binarized_mnist_converts_amat_files_once(isolated_data, monkeypatch):
    data_dir = isolated_data / "data"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    sizes = {"train": 50000, "valid": 10000, "test": 10000}
    # small stand-ins with the right sizes are too big to write as text quickly: patch sizes
    for s in sizes:
        np.savetxt(data_dir / f"binarized_mnist_{s}.amat", (rng.random((4, 784)) > .5), fmt="%d")
    with pytest.raises(DataError, match=r"expected \(50000, 784\)"):
        binarized_mnist()
    assert (isolated_data / "cache" / "binarized_mnist.npz").is_file()  # converted once


def test_offline_error_names_paths_and_urls(isolated_data, monkeypatch):
    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(sources.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as e:
        binarized_mnist()
    msg = str(e.value)
    assert "binarized_mnist_train.amat" in msg and "http" in msg and "VAELAB_DATA" in msg


def _write_idx(path, arr):
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_reader_roundtrip_and_corruption(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    _write_idx(tmp_path / "a.gz", a)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), a)
    (tmp_path / "b.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a valid IDX"):
        read_idx(tmp_path / "b.gz")


def test_mnist_test_files_and_dynamic_binarization(shared_data):
    x = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    y = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    assert set(np.unique(y)) == set(range(10))
    d = mnist_from_arrays(x[:8000], y[:8000], x[8000:], y[8000:], "dynamic", n_valid=1000)
    assert d.dynamic_binarize and not d.binary and d.likelihood == "bernoulli"
    assert 0 < float(d.train.min()) + 1 and float(d.train.max()) == 1.0  # grey levels kept
    g = d.train[:500]
    b1, b2 = torch.bernoulli(g), torch.bernoulli(g)
    assert not torch.equal(b1, b2)  # a fresh sample each use
    # the Bernoulli samples have the grey level as mean
    mean = torch.stack([torch.bernoulli(g) for _ in range(200)]).mean(0)
    assert float((mean - g).abs().max()) < 0.15
    s1 = mnist_from_arrays(x[:2000], y[:2000], x[2000:2100], y[2000:2100], "static", 100, seed=3)
    s2 = mnist_from_arrays(x[:2000], y[:2000], x[2000:2100], y[2000:2100], "static", 100, seed=3)
    assert s1.binary and torch.equal(s1.train, s2.train)


def test_mnist_offline_without_training_images(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(sources.urllib.request, "urlopen",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        mnist()


def test_freyfaces(shared_data):
    d = freyfaces()
    assert d.image_shape == (1, 28, 20) and d.likelihood == "gaussian" and d.levels == 256
    assert len(d.train) + len(d.valid) + len(d.test) == 1965
    assert 0 <= float(d.train.min()) and float(d.train.max()) <= 1


def test_omniglot_from_a_small_mat_file(tmp_path):
    from scipy.io import savemat

    img = np.zeros((28, 28), dtype=np.float32)
    img[0, :] = 1.0  # top row lit: row-major pixels 0..27
    col = img.reshape(-1, order="F")  # Burda stores images column-major
    data = np.stack([col] * 20, axis=1)  # [784, 20]
    savemat(tmp_path / "chardata.mat", {"data": data, "testdata": data[:, :5]})
    d = omniglot(tmp_path / "chardata.mat", binarize="none")
    assert d.test.shape == (5, 1, 28, 28)
    assert torch.equal(d.test[0, 0, 0], torch.ones(28)) and float(d.test[0, 0, 1:].sum()) == 0


def test_user_files_and_validation(tmp_path):
    x = (np.random.default_rng(0).random((50, 8, 8)) > 0.5).astype(np.uint8)
    np.save(tmp_path / "a.npy", x)
    d = from_file(tmp_path / "a.npy")
    assert d.binary and d.image_shape == (1, 8, 8)
    assert len(d.train) + len(d.valid) + len(d.test) == 50
    np.savez(tmp_path / "b.npz", train=x[:40], test=x[40:])
    d = load_dataset(str(tmp_path / "b.npz"))
    assert len(d.test) == 10 and len(d.train) + len(d.valid) == 40
    grey = np.random.default_rng(0).integers(0, 256, (30, 16)).astype(np.uint8)
    np.save(tmp_path / "g.npy", grey)
    g = from_file(tmp_path / "g.npy")  # 8-bit levels: the discretized logistic by default
    assert not g.binary and g.levels == 256 and g.likelihood == "logistic"
    assert g.image_shape == (1, 4, 4) and float(g.train.max()) <= 1
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((30, 16)).astype(np.float32))
    assert from_file(tmp_path / "f.npy").likelihood == "gaussian"  # continuous values
    with pytest.raises(DataError, match="Bernoulli decoder needs binary data"):
        require_binary(g.train, "g")


@pytest.mark.parametrize("make,match", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text("junk"), "could not be read"),
    (lambda p: np.save(p, np.zeros((2, 3, 4, 5, 6))), r"expected an array of shape"),
    (lambda p: np.save(p, np.array(["a", "b"] * 10).reshape(10, 2)), "unsupported dtype"),
    (lambda p: np.save(p, np.zeros((0, 4))), "empty"),
    (lambda p: np.save(p, np.zeros((10, 7))), "not square images.*--image-shape"),
    (lambda p: np.save(p, np.full((10, 4), 300, dtype=np.int64)), r"integer values lie in"),
    (lambda p: np.save(p, np.full((10, 4), 3.5)), r"values lie in"),
    (lambda p: np.save(p, np.array([[np.nan] * 4] * 10)), "NaN"),
])
def test_bad_files_give_clear_errors(tmp_path, make, match):
    p = tmp_path / "x.npy"
    make(p)
    with pytest.raises(DataError, match=match):
        from_file(p)


def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown data set 'nope'.*embedded"):
        load_dataset("nope")
