"""The lecture's Figure 6 (van den Oord et al. 2016): an autoencoder trained with MSE versus a
PixelCNN autoencoder (deterministic m-dimensional code, gated PixelCNN decoder conditioned on it,
256-way softmax over grey levels), for bottlenecks m = 10 and m = 100.

Data: the grayscale MNIST *test* images (the training images are not on these machines), split
8000 for training / 2000 held out; the figure shows held-out images.

    python experiments/figure6_autoencoders.py --epochs 10 --out runs/figure6

Writes OUT/figure6.png: per row, original | MSE reconstruction (m=10) | PixelCNN sample (m=10)
| MSE reconstruction (m=100) | PixelCNN sample (m=100).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vaelab.data import read_idx
from vaelab.data.sources import find_file
from vaelab.errors import DataError
from vaelab.models.pixelcnn import PixelCNN
from vaelab.models.pixelvae import ConvDecoder, conv_encoder
from vaelab.viz import save_grid


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
    grid = torch.stack(cols, 1).reshape(-1, 784)
    out = Path(args.out)
    path = save_grid(grid, (28, 28), out / "figure6.png", nrow=len(cols))
    print(f"wrote {path}: columns original | MSE m=10 | PixelCNN m=10 | MSE m=100 | "
          "PixelCNN m=100")


if __name__ == "__main__":
    main()
