"""Shared fixtures.

Statistical tests use fixed seeds and tolerances stated as multiples of a standard error
(usually 4 s.e., a false-failure rate below 1e-4 per check) so they are reproducible and
would fail if the mathematics were wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_dir() -> Path | None:
    for p in [*(Path(d) for d in os.environ.get("VAELAB_DATA", "").split(os.pathsep) if d), SHARED]:
        if (p / "binarized_mnist.npz").is_file():
            return p
    return None


needs_shared = pytest.mark.skipif(shared_data_dir() is None,
                                  reason="full data sets (../shared/data) not present")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_data(monkeypatch) -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("full data sets (../shared/data) not present")
    d = d.resolve()  # tests may change the working directory
    monkeypatch.setenv("VAELAB_DATA", str(d))
    return d


@pytest.fixture
def isolated_data(monkeypatch, tmp_path) -> Path:
    """No data directories and an empty cache: loaders must fall back to downloading."""
    monkeypatch.setenv("VAELAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory):
    """300 / 100 / 200 static-binarized digits of the embedded set, as a file."""
    from vaelab.data.registry import load_data
    from vaelab.training.config import DataConfig

    d, _ = load_data(DataConfig(dataset="embedded"))
    p = tmp_path_factory.mktemp("data") / "tiny.npz"

    def arr(x, n):
        return (x[:n].reshape(n, 28, 28).numpy() > 0.5).astype(np.uint8)

    np.savez(p, train=arr(d.train, 300), valid=arr(d.valid, 100), test=arr(d.test, 200))
    return p
