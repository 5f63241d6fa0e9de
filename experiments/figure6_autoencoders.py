"""The lecture's Figure 6 (van den Oord et al. 2016): an autoencoder trained with MSE versus a
PixelCNN autoencoder (deterministic m-dimensional code, gated PixelCNN decoder conditioned on it,
256-way softmax over grey levels), for bottlenecks m = 10 and m = 100.

Data: the grayscale MNIST *test* images (the training images are not on these machines), split
8000 for training / 2000 held out; the figure shows held-out images.

    python experiments/figure6_autoencoders.py --epochs 10 --out runs/figure6

Writes OUT/figure6.png, a titled figure: per row, original | MSE reconstruction (m=10) |
PixelCNN sample (m=10) | MSE reconstruction (m=100) | PixelCNN sample (m=100).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from vaelab.data import read_idx
from vaelab.data.sources import find_file
from vaelab.errors import DataError
from vaelab.models.pixelcnn import PixelCNN
from vaelab.models.pixelvae import ConvDecoder, conv_encoder
from vaelab.viz import save


class MSEAutoencoder(nn.Module):
    def __init__(self, m: int) -> None:
        super().__init__()
        self.enc = conv_encoder(32, m, (28, 28))
        self.dec = ConvDecoder(m, 32, 1, (28, 28))

    def loss(self, x):  # x in [0, 1], [B, 1, 28, 28]
        return ((torch.sigmoid(self.dec(self.enc(x))) - x) ** 2).flatten(1).sum(1).mean()

    @torch.no_grad()
    def reconstruct(self, x):
        return torch.sigmoid(self.dec(self.enc(x)))


class PixelCNNAutoencoder(nn.Module):
    def __init__(self, m: int, layers: int = 6, channels: int = 32) -> None:
        super().__init__()
        self.enc = conv_encoder(32, m, (28, 28))
        self.pixelcnn = PixelCNN(layers, channels, 5, levels=256, cond_dim=m)

    def loss(self, x):  # nats per image
        return -self.pixelcnn.log_prob(torch.round(x * 255), cond_vec=self.enc(x)).mean()

    @torch.no_grad()
    def reconstruct(self, x):
        return self.pixelcnn.sample(len(x), (28, 28), cond_vec=self.enc(x)) / 255


def fit(model, x, epochs, batch=100, lr=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for ep in range(epochs):
        perm = torch.randperm(len(x))
        tot = 0.0
        for i in range(0, len(x), batch):
            loss = model.loss(x[perm[i:i + batch]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss) * len(perm[i:i + batch])
        print(f"{type(model).__name__} epoch {ep + 1}: loss {tot / len(x):.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--out", default="runs/figure6")
    args = ap.parse_args()
    p = find_file("mnist/t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    if p is None:
        raise DataError("MNIST test images not found: set VAELAB_DATA to the folder holding "
                        "mnist/t10k-images-idx3-ubyte.gz")
    x = torch.as_tensor(read_idx(p).astype(np.float32) / 255).unsqueeze(1)
    torch.manual_seed(0)
    x = x[torch.randperm(len(x))]
    train_x, held = x[: args.n_train], x[args.n_train:][: args.rows]
    cols = [held]
    for m in (10, 100):
        mse, pix = MSEAutoencoder(m), PixelCNNAutoencoder(m)
        fit(mse, train_x, args.epochs)
        fit(pix, train_x, args.epochs)
        cols += [mse.reconstruct(held), pix.reconstruct(held)]
    titles = ["original", "MSE, m=10", "PixelCNN, m=10", "MSE, m=100", "PixelCNN, m=100"]
    path = save(figure(cols, titles), Path(args.out) / "figure6.png")
    print(f"wrote {path}: columns {' | '.join(titles)}")


def figure(cols: list[torch.Tensor], titles: list[str]) -> Figure:
    """Held-out images (rows) and their reconstructions by each autoencoder (columns)."""
    rows = len(cols[0])
    fig = Figure(figsize=(1.2 * len(cols), 1.2 * rows + 0.9))
    axes = fig.subplots(rows, len(cols), squeeze=False)
    for c, (images, title) in enumerate(zip(cols, titles)):
        for r in range(rows):
            ax = axes[r][c]
            ax.imshow(images[r, 0].detach().cpu(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle("Figure 6: an MSE autoencoder blurs;\na PixelCNN autoencoder samples the "
                 "details its code leaves out", fontsize=9)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
