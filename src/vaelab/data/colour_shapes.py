"""A procedural colour data set: coloured shapes on coloured backgrounds, 32x32 RGB, 8-bit.

Every combination of shape (square, ellipse, heart) x colour (5) x background (3) x scale (2)
x horizontal position (6) x vertical position (6) = 3,240 images, made deterministically
offline (no download) and split 80/10/10 with a fixed seed. Edges are anti-aliased (each pixel
averages a 4x4 grid of sub-pixel samples), so the values are genuine 8-bit levels, not only the
eight colours: a test bed for discretized likelihoods, bits/dim and colour sample grids.
``labels[split]`` holds the factor indices ``[N, 6]`` in the order of ``FACTORS``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from vaelab.data.dataset import ImageDataset
from vaelab.data.shapes import render

FACTORS = ("shape", "colour", "background", "scale", "x", "y")
SIZES = (3, 5, 3, 2, 6, 6)
COLOURS = np.array([[230, 60, 50], [250, 200, 40], [60, 170, 80], [50, 110, 220],
                    [170, 70, 200]], dtype=np.float32)
BACKGROUNDS = np.array([[20, 20, 30], [235, 235, 225], [110, 120, 130]], dtype=np.float32)
SUPERSAMPLE = 4


def render_colour(idx: np.ndarray, size: int = 32) -> np.ndarray:
    """uint8 images ``[N, 3, size, size]`` for factor indices ``[N, 6]``."""
    shape, colour, bg, scale, ix, iy = idx.T
    s = 0.6 + 0.4 * scale
    px = 0.3 + 0.4 * ix / (SIZES[4] - 1)
    py = 0.3 + 0.4 * iy / (SIZES[5] - 1)
    angle = np.zeros(len(idx))
    hi = render(shape, s, angle, px, py, size=size * SUPERSAMPLE).astype(np.float32)
    cover = hi.reshape(len(idx), size, SUPERSAMPLE, size, SUPERSAMPLE).mean((2, 4))  # [N, H, W]
    fg, back = COLOURS[colour][:, :, None, None], BACKGROUNDS[bg][:, :, None, None]
    img = cover[:, None] * fg + (1 - cover[:, None]) * back
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=2)
def _all_images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every image once per process (rendering takes seconds); read-only arrays."""
    grids = np.meshgrid(*[np.arange(n) for n in SIZES], indexing="ij")
    idx = np.stack([g.reshape(-1) for g in grids], 1)
    imgs = np.concatenate([render_colour(idx[i:i + 512], size) for i in range(0, len(idx), 512)])
    idx.flags.writeable = imgs.flags.writeable = False
    return idx, imgs


def colour_shapes(seed: int = 0, size: int = 32) -> ImageDataset:
    idx, imgs = _all_images(size)
    perm = np.random.default_rng(seed).permutation(len(idx))
    n = len(idx) // 10
    parts = {"valid": perm[:n], "test": perm[n:2 * n], "train": perm[2 * n:]}
    t = {k: torch.as_tensor(imgs[p]).float() / 255 for k, p in parts.items()}
    labels = {k: torch.as_tensor(idx[p]) for k, p in parts.items()}
    return ImageDataset("colour_shapes", t["train"], t["valid"], t["test"], binary=False,
                        levels=256, source=f"procedural, {math.prod(SIZES)} images, factor "
                        f"sizes {SIZES}", labels=labels)
