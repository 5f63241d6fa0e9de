"""The in-memory data set every model trains on, and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vaelab.errors import DataError

SPLITS = ("train", "valid", "test")


@dataclass
class ImageDataset:
    """Flattened images in [0, 1], one float32 tensor per split (shape ``[N, D]``).

    ``binary``: every value is 0 or 1 (Bernoulli decoder). ``dynamic_binarize``: the values are
    grey levels and each use draws a fresh Bernoulli sample (Burda et al. 2015), so the model
    still sees binary data. ``labels`` holds per-split labels where known.
    """

    name: str
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    image_shape: tuple[int, int]
    binary: bool
    dynamic_binarize: bool = False
    source: str = ""
    labels: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = self.image_shape[0] * self.image_shape[1]
        for s in SPLITS:
            t = getattr(self, s)
            if t.ndim != 2 or t.shape[1] != d:
                raise DataError(f"{self.name}: split '{s}' has shape {tuple(t.shape)}, expected "
                                f"[N, {d}] for images {self.image_shape}")

    def split(self, name: str) -> torch.Tensor:
        if name not in SPLITS:
            raise DataError(f"unknown split '{name}': choose one of {', '.join(SPLITS)}")
        return getattr(self, name)

    @property
    def dim(self) -> int:
        return self.train.shape[1]

    @property
    def likelihood(self) -> str:
        """'bernoulli' for (dynamically) binary data, else 'gaussian'."""
        return "bernoulli" if self.binary or self.dynamic_binarize else "gaussian"

    def train_mean(self) -> torch.Tensor:
        return self.train.mean(0)

    def summary(self) -> dict:
        return {"name": self.name, "source": self.source, "image_shape": list(self.image_shape),
                "sizes": {s: len(self.split(s)) for s in SPLITS}, "likelihood": self.likelihood,
                "dynamic_binarize": self.dynamic_binarize}


def to_unit_float(a: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    """Images as float32 in [0, 1], ``[N, D]``; integers are divided by 255 unless binary."""
    t = torch.as_tensor(np.asarray(a))
    if t.ndim == 3:
        t = t.reshape(t.shape[0], -1)
    if t.ndim != 2:
        raise DataError(f"{what}: expected an array of shape [N, D] or [N, H, W], got "
                        f"{tuple(t.shape)}; reshape it to one image per row")
    if t.shape[0] == 0:
        raise DataError(f"{what}: the array is empty")
    if not (t.dtype.is_floating_point or t.dtype in (torch.uint8, torch.int32, torch.int64,
                                                    torch.int16, torch.bool)):
        raise DataError(f"{what}: unsupported dtype {t.dtype}; use uint8 or float")
    if t.dtype == torch.bool:
        return t.float()
    if not t.dtype.is_floating_point:
        mx = int(t.max())
        t = t.float() if mx <= 1 else t.float() / 255.0
    t = t.float()
    if not torch.isfinite(t).all():
        raise DataError(f"{what}: contains NaN or Inf values; clean the data first")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0 or hi > 1:
        raise DataError(f"{what}: values lie in [{lo:g}, {hi:g}], expected [0, 1] "
                        "(or uint8 0..255); rescale the data")
    return t.contiguous()


def is_binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


def require_binary(t: torch.Tensor, what: str) -> None:
    """Raise if ``t`` is not in {0,1}: a Bernoulli decoder has no density for other values."""
    if not is_binary(t):
        frac = float(((t != 0) & (t != 1)).float().mean())
        raise DataError(
            f"{what}: a Bernoulli decoder needs binary data, but {frac:.1%} of the values are "
            "neither 0 nor 1. Fix: binarize the data (e.g. --binarize dynamic), or use a "
            "Gaussian decoder (--likelihood gaussian) for continuous data")
