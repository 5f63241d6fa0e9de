"""Image grids: ``[N, C, H, W]`` (grey or colour) tiled into one picture and saved as PNG.

No pyplot and no backend switch: writing a PNG leaves a notebook's Matplotlib set-up alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def _as_images(images, image_shape: tuple | None) -> np.ndarray:
    """``[N, C, H, W]`` (or ``[N, H, W]``, or flat rows with ``image_shape``) -> ``[N, H, W, C]``
    float32 in [0, 1]."""
    a = np.asarray(images.detach().float().cpu() if torch.is_tensor(images) else images,
                   dtype=np.float32)
    if image_shape is not None:
        shape = tuple(image_shape)
        a = a.reshape(-1, *(shape if len(shape) == 3 else (1, *shape)))
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {a.shape}")
    return np.clip(a, 0, 1).transpose(0, 2, 3, 1)


def grid(images, image_shape: tuple | None = None, nrow: int = 10, pad: int = 1,
         pad_value: float = 1.0) -> np.ndarray:
    """Tile images into one ``[rows*(H+pad)+pad, nrow*(W+pad)+pad, C]`` array (C = 1 or 3)."""
    a = _as_images(images, image_shape)
    n, h, w, c = a.shape
    rows = max(1, -(-n // nrow))
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, np.float32)
    for i, img in enumerate(a):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        out[top:top + h, left:left + w] = img
    return out


PAIR_GAP = (4, 3)  # pixels between pair rows, between pairs in a row


def pair_grid(originals, reconstructions, per_row: int = 10) -> np.ndarray:
    """Pairs, each original directly above its reconstruction (1 pixel apart), the pairs set
    apart by wider gaps: ``[rows*(2H+1) + (rows+1)*4, per_row*W + (per_row+1)*3, C]``."""
    a, b = _as_images(originals, None), _as_images(reconstructions, None)
    n, h, w, c = a.shape
    gy, gx = PAIR_GAP
    rows = max(1, -(-n // per_row))
    out = np.ones((rows * (2 * h + 1) + (rows + 1) * gy, per_row * w + (per_row + 1) * gx, c),
                  dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, per_row)
        top, left = gy + r * (2 * h + 1 + gy), gx + col * (w + gx)
        out[top:top + h, left:left + w] = a[i]
        out[top + h + 1:top + 2 * h + 1, left:left + w] = b[i]
    return out


def save_grid(images, image_shape: tuple | None, path: str | Path, nrow: int = 10,
              scale: int = 3) -> Path:
    """Write a grid of images to ``path`` (PNG), each pixel ``scale`` x ``scale``; grey images
    stay grey, three channels are RGB."""
    return save_array(grid(images, image_shape, nrow), path, scale)


def save_pairs(originals, reconstructions, path: str | Path, per_row: int = 10,
               scale: int = 3) -> Path:
    """Write ``pair_grid`` to ``path`` (PNG)."""
    return save_array(pair_grid(originals, reconstructions, per_row), path, scale)


def save_array(g: np.ndarray, path: str | Path, scale: int = 3) -> Path:
    """An ``[H, W, C]`` array in [0, 1] as a PNG, each pixel ``scale`` x ``scale``."""
    from matplotlib.image import imsave

    g = np.kron(g, np.ones((scale, scale, 1), dtype=np.float32))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if g.shape[2] == 1:
        imsave(path, g[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        imsave(path, g[..., :3])
    return path
