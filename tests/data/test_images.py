"""Images keep their shape: every array layout, flat data with an explicit shape, binarization
of any file, 8-bit detection, and the procedural colour data set."""

import numpy as np
import pytest
import torch

from vaelab.data import DataConfig, from_file, load_data, to_images
from vaelab.data.colour_shapes import FACTORS, SIZES, colour_shapes
from vaelab.errors import DataError

RNG = np.random.default_rng(0)
GREY = RNG.integers(0, 256, (6, 5, 7)).astype(np.uint8)  # [N, H, W], H != W


@pytest.mark.parametrize("array,shape", [
    (GREY, None),                                   # [N, H, W]
    (GREY[:, None], None),                          # [N, 1, H, W]
    (GREY[..., None], None),                        # [N, H, W, 1]
    (GREY.reshape(6, -1), (1, 5, 7)),               # flat with an explicit shape
])
def test_every_layout_gives_the_same_images(array, shape):
    x, binary, levels = to_images(array, "t", shape)
    assert x.shape == (6, 1, 5, 7) and not binary and levels == 256
    assert torch.equal(x[:, 0], torch.as_tensor(GREY).float() / 255)


def test_colour_layouts_agree():
    rgb = RNG.integers(0, 256, (4, 6, 8, 3)).astype(np.uint8)  # [N, H, W, C]
    a = to_images(rgb, "t")[0]
    b = to_images(rgb.transpose(0, 3, 1, 2), "t")[0]  # [N, C, H, W]
    c = to_images(rgb.transpose(0, 3, 1, 2).reshape(4, -1), "t", (3, 6, 8))[0]
    assert a.shape == (4, 3, 6, 8) and torch.equal(a, b) and torch.equal(a, c)
    assert torch.equal(a[1, :, 2, 5], torch.as_tensor(rgb[1, 2, 5]).float() / 255)


@pytest.mark.parametrize("array,shape,match", [
    (np.zeros((4, 3, 5, 3)), None, "cannot tell channels"),
    (np.zeros((4, 10)), None, "not square"),
    (np.zeros((4, 10)), (1, 3, 3), "cannot be --image-shape"),
    (np.zeros((4, 5, 7)), (1, 7, 5), "do not match --image-shape"),
    (np.array([[object()] * 4] * 3), None, "unsupported dtype"),
    (np.full((3, 4), np.inf), None, "NaN or Inf"),
])
def test_unreadable_layouts_are_one_line_errors(array, shape, match):
    with pytest.raises(DataError, match=match):
        to_images(array, "t", shape)


def test_a_users_28x20_faces_file_keeps_its_shape(tmp_path, monkeypatch):
    faces = RNG.integers(0, 256, (40, 28, 20)).astype(np.uint8)
    np.savez(tmp_path / "faces.npz", faces=faces)
    d = from_file(tmp_path / "faces.npz")
    assert d.image_shape == (1, 28, 20) and d.identity["path"].endswith("faces.npz")
    assert len(d.identity["sha256"]) == 64
    np.save(tmp_path / "flat.npy", faces.reshape(40, 560))  # flat rows need their shape
    with pytest.raises(DataError, match="--image-shape"):
        load_data(DataConfig(dataset=str(tmp_path / "flat.npy")))
    monkeypatch.chdir(tmp_path)
    cfg = DataConfig(dataset="flat.npy", image_shape="1,28,20")
    assert cfg.dataset == str(tmp_path / "flat.npy")  # recorded absolute: resumes anywhere
    flat, _ = load_data(cfg)
    assert flat.image_shape == (1, 28, 20)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_binarize_works_for_any_file(tmp_path, mode):
    grey = RNG.integers(0, 256, (50, 8, 8)).astype(np.uint8)
    np.save(tmp_path / "g.npy", grey)
    cfg = DataConfig(dataset=str(tmp_path / "g.npy"), binarize=mode)
    d, lik = load_data(cfg)
    assert lik == "bernoulli"
    if mode == "dynamic":
        assert d.dynamic_binarize and not d.binary and d.train.unique().numel() > 2
    else:
        assert d.binary and torch.equal(load_data(cfg)[0].train, d.train)  # fixed seed
        mean = float(d.train.mean())
        assert abs(mean - grey.mean() / 255) < 0.02  # a Bernoulli sample of the grey levels
    with pytest.raises(DataError, match="Bernoulli decoder needs binary"):
        load_data(DataConfig(dataset=str(tmp_path / "g.npy"), likelihood="bernoulli"))
    with pytest.raises(DataError, match="8-bit data"):
        np.save(tmp_path / "c.npy", RNG.random((20, 4, 4)).astype(np.float32))
        load_data(DataConfig(dataset=str(tmp_path / "c.npy"), likelihood="logistic"))


def test_colour_shapes_are_deterministic_8bit_rgb_with_every_factor_combination():
    d = colour_shapes()
    assert d.image_shape == (3, 32, 32) and d.levels == 256 and d.likelihood == "logistic"
    assert d.labels["train"].shape[1] == len(FACTORS)
    labels = torch.cat([d.labels[s] for s in ("train", "valid", "test")])
    assert len({tuple(r) for r in labels.tolist()}) == int(np.prod(SIZES))
    x = torch.cat([d.train, d.valid, d.test])
    assert torch.equal(x * 255, (x * 255).round())  # genuine 8-bit levels ...
    assert (x * 255).round().unique().numel() > 50  # ... with anti-aliased edges
    assert float((x[:, 0] - x[:, 1]).abs().max()) > 0.5  # and colour, not grey
    assert torch.equal(colour_shapes().test, d.test)
