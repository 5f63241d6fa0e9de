"""PNG image grids with matplotlib."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def grid(images: torch.Tensor | np.ndarray, image_shape: tuple[int, int], nrow: int,
         pad: int = 1) -> np.ndarray:
    """Tile ``[N, H*W]`` images in [0, 1] into one ``[rows*(H+pad), nrow*(W+pad)]`` array."""
    a = np.asarray(images.detach().cpu() if torch.is_tensor(images) else images, dtype=np.float32)
    h, w = image_shape
    a = a.reshape(-1, h, w)
    rows = -(-len(a) // nrow)
    out = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i, img in enumerate(a):
        r, c = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top:top + h, left:left + w] = img
    return out


def save_grid(images, image_shape: tuple[int, int], path: str | Path, nrow: int = 10,
              scale: int = 3) -> Path:
    """Write a grid of images to ``path`` (PNG), each pixel ``scale`` x ``scale``."""
    g = np.clip(grid(images, image_shape, nrow), 0, 1)
    g = np.kron(g, np.ones((scale, scale), dtype=np.float32))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, g, cmap="gray", vmin=0, vmax=1)
    return path
