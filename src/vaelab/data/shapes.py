"""A procedurally generated dSprites-style data set with known generative factors.

64x64 binary images of one shape (square, ellipse, heart) at every combination of
``scale`` x ``rotation`` x ``x position`` x ``y position`` (Higgins et al. 2017; Matthey et al.
2017). Made on the fly, deterministically: no download. Factor indices are the labels.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelab.data.dataset import ImageDataset

FACTORS = ("shape", "scale", "rotation", "x", "y")


def factor_sizes(small: bool = False) -> tuple[int, ...]:
    return (3, 3, 4, 6, 6) if small else (3, 4, 8, 8, 8)


def render(shape: np.ndarray, scale: np.ndarray, angle: np.ndarray, px: np.ndarray,
           py: np.ndarray, size: int = 64) -> np.ndarray:
    """Binary images ``[N, size, size]`` for per-image factor values (continuous)."""
    c = ((np.arange(size) + 0.5) / size).astype(np.float32)  # pixel centres in [0, 1]
    X, Y = np.meshgrid(c, c)  # [size, size]
    f32 = np.float32
    dx, dy = X[None] - px.astype(f32)[:, None, None], Y[None] - py.astype(f32)[:, None, None]
    cos, sin = np.cos(angle).astype(f32)[:, None, None], np.sin(angle).astype(f32)[:, None, None]
    r = 0.18 * scale.astype(f32)[:, None, None]
    u, v = (cos * dx + sin * dy) / r, (-sin * dx + cos * dy) / r
    square = (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    ellipse = u ** 2 + (v / 0.55) ** 2 <= 1
    hu, hv = u * 1.15, -v * 1.15 + 0.25
    heart = (hu ** 2 + hv ** 2 - 1) ** 3 - hu ** 2 * hv ** 3 <= 0
    s = shape[:, None, None]
    return np.where(s == 0, square, np.where(s == 1, ellipse, heart))


def factor_values(idx: np.ndarray, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Map factor indices ``[N, 5]`` to (shape, scale, angle, x, y) values."""
    shape = idx[:, 0]
    scale = 0.5 + 0.5 * idx[:, 1] / max(sizes[1] - 1, 1)
    angle = idx[:, 2] / sizes[2] * (math.pi / 2)  # a quarter turn: the square's symmetry
    px = 0.25 + 0.5 * idx[:, 3] / max(sizes[3] - 1, 1)
    py = 0.25 + 0.5 * idx[:, 4] / max(sizes[4] - 1, 1)
    return shape, scale, angle, px, py


def all_factors(sizes: tuple[int, ...]) -> np.ndarray:
    """Every combination of factor indices, ``[prod(sizes), 5]``."""
    grids = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], 1)


def shapes(small: bool = False, seed: int = 0, size: int = 64) -> ImageDataset:
    """The full factor grid (6,144 images; 648 with ``small``), split 80/10/10 with ``seed``.
    ``labels[split]`` holds the factor indices ``[N, 5]`` in the order of ``FACTORS``."""
    sizes = factor_sizes(small)
    idx = all_factors(sizes)
    vals = factor_values(idx, sizes)
    shape, scale, angle, px, py = vals
    imgs = np.concatenate([render(shape[i:i + 512], scale[i:i + 512], angle[i:i + 512],
                                  px[i:i + 512], py[i:i + 512], size=size)
                           for i in range(0, len(idx), 512)])[:, None]  # [N, 1, H, W]
    perm = np.random.default_rng(seed).permutation(len(idx))
    n = len(idx) // 10
    parts = {"valid": perm[:n], "test": perm[n:2 * n], "train": perm[2 * n:]}
    t = {k: torch.as_tensor(imgs[p], dtype=torch.float32) for k, p in parts.items()}
    labels = {k: torch.as_tensor(idx[p]) for k, p in parts.items()}
    return ImageDataset("shapes_small" if small else "shapes", t["train"], t["valid"], t["test"],
                        binary=True, source=f"procedural, factor sizes {sizes}", labels=labels)
