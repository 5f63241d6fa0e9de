"""The lecture's Figure 6 (van den Oord et al. 2016): an autoencoder trained with MSE versus a
PixelCNN autoencoder (deterministic m-dimensional code, gated PixelCNN decoder conditioned on it,
256-way softmax over grey levels), for bottlenecks m = 10 and m = 100.

Data: the grayscale MNIST *test* images (the training images are not on these machines), split
8000 for training / 2000 held out; the figure shows held-out images.

    OMP_NUM_THREADS=1 python experiments/figure6_autoencoders.py --minutes 60 --out runs/figure6

Each bottleneck gets ``--minutes`` CPU minutes of training in all (the MSE autoencoder's
``--mse-epochs`` first, then the PixelCNN autoencoder for whole epochs while the budget lasts:
no epoch starts after it, so the last one may overrun it). On two cores, train the bottlenecks
side by side and then draw (the committed figure: ``--minutes 50``):

    for m in 10 100; do OMP_NUM_THREADS=1 python experiments/figure6_autoencoders.py \
        --only $m --out runs/figure6 & done; wait
    python experiments/figure6_autoencoders.py --out runs/figure6

Writes OUT/figure6.png, a titled figure: per row, original | MSE reconstruction (m=10) |
PixelCNN sample (m=10) | MSE reconstruction (m=100) | PixelCNN sample (m=100); and
OUT/figure6.json with the sizes, epochs, minutes and held-out losses (MSE per image; PixelCNN
nats per image and bits/dim) that the caption quotes.
"""

from __future__ import annotations

import argparse
import json
import math
import time
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

BOTTLENECKS = (10, 100)


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
    def __init__(self, m: int, layers: int = 5, channels: int = 16,
                 marginal: torch.Tensor | None = None) -> None:
        super().__init__()
        self.enc = conv_encoder(32, m, (28, 28))
        self.pixelcnn = PixelCNN(layers, channels, 5, levels=256, cond_dim=m)
        # leaky units in the output head: with plain ReLUs the m = 100 model's head went silent
        # twice on this budget (every unit negative), leaving the pixel marginal (1068 nats)
        for i, layer in enumerate(self.pixelcnn.head):
            if isinstance(layer, nn.ReLU):
                self.pixelcnn.head[i] = nn.LeakyReLU(0.01)
        if marginal is not None:
            # start at the grey-level marginal (log frequencies, +1 smoothed) instead of the
            # uniform 4347 nats: the first epoch otherwise goes into learning it, and at m = 100
            # the model then sat on it (1068 nats) for the rest of a 9-minute run
            out = self.pixelcnn.head[-1]
            with torch.no_grad():
                out.bias.copy_(marginal.log() - marginal.log().mean())
                out.weight.mul_(0.1)

    def loss(self, x):  # nats per image
        return -self.pixelcnn.log_prob(torch.round(x * 255), cond_vec=self.enc(x)).mean()

    @torch.no_grad()
    def reconstruct(self, x):
        return self.pixelcnn.sample(len(x), (28, 28), cond_vec=self.enc(x)) / 255


def fit(model, x, epochs, batch=100, lr=1e-3, deadline=float("inf")) -> int:
    """Adam for ``epochs`` passes, or fewer: no epoch starts after ``deadline`` (this process's
    CPU seconds, ``time.process_time()``, so that other jobs on the machine do not shorten the
    training). Returns the epochs done."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    done = 0
    for ep in range(epochs):
        if time.process_time() > deadline:
            break
        perm = torch.randperm(len(x))
        tot = 0.0
        for i in range(0, len(x), batch):
            loss = model.loss(x[perm[i:i + batch]])
            opt.zero_grad()
            loss.backward()
            # a large early step can silence every ReLU of the PixelCNN's head, leaving one
            # constant 256-way softmax (1068 nats an image, seen at m = 100): keep steps sane
            torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            opt.step()
            tot += float(loss.detach()) * len(perm[i:i + batch])
        done += 1
        print(f"{type(model).__name__} epoch {ep + 1}: loss {tot / len(x):.2f}", flush=True)
    return done


@torch.no_grad()
def held_out_loss(model, x, batch=200) -> float:
    return sum(float(model.loss(x[i:i + batch])) * len(x[i:i + batch])
               for i in range(0, len(x), batch)) / len(x)


def train_bottleneck(m: int, train_x, rest, held, args) -> dict:
    """Both autoencoders with an m-dimensional code: the record and the held-out columns."""
    t0 = time.process_time()
    torch.manual_seed(m)
    grey = torch.round(train_x * 255).long().flatten()
    marginal = torch.bincount(grey, minlength=256).float() + 1
    mse = MSEAutoencoder(m)
    pix = PixelCNNAutoencoder(m, args.layers, args.channels, marginal)
    mse_epochs = fit(mse, train_x, args.mse_epochs)
    pix_epochs = fit(pix, train_x, args.max_epochs, deadline=t0 + 60 * args.minutes)
    minutes = (time.process_time() - t0) / 60  # CPU minutes
    nats = held_out_loss(pix, rest)
    record = {"mse_epochs": mse_epochs, "pixelcnn_epochs": pix_epochs, "minutes": minutes,
              "mse_held_out": held_out_loss(mse, rest), "pixelcnn_held_out_nats": nats,
              "pixelcnn_bits_per_dim": nats / (784 * math.log(2)),
              "pixelcnn_parameters": sum(p.numel() for p in pix.parameters())}
    return {"record": record, "mse": mse.reconstruct(held), "pixelcnn": pix.reconstruct(held)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0, help="CPU minutes of training a "
                    "bottleneck (run it with OMP_NUM_THREADS=1 for CPU = core minutes)")
    ap.add_argument("--mse-epochs", type=int, default=20)
    ap.add_argument("--max-epochs", type=int, default=1000, help="PixelCNN epochs at most")
    ap.add_argument("--layers", type=int, default=5, help="gated PixelCNN layers")
    ap.add_argument("--channels", type=int, default=16, help="channels of each gated layer")
    ap.add_argument("--n-train", type=int, default=8000)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--only", type=int, choices=BOTTLENECKS, help="train this bottleneck only "
                    "(OUT/m<M>.pt), e.g. the two in parallel on two cores; a later call "
                    "without --only draws the figure from the saved parts")
    ap.add_argument("--out", default="runs/figure6")
    args = ap.parse_args()
    p = find_file("mnist/t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    if p is None:
        raise DataError("MNIST test images not found: set VAELAB_DATA to the folder holding "
                        "mnist/t10k-images-idx3-ubyte.gz")
    x = torch.as_tensor(read_idx(p).astype(np.float32) / 255).unsqueeze(1)
    torch.manual_seed(0)
    x = x[torch.randperm(len(x))]
    train_x, rest = x[: args.n_train], x[args.n_train:]
    held = rest[: args.rows]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = {}
    for m in (args.only,) if args.only else BOTTLENECKS:
        part = out / f"m{m}.pt"
        if not part.is_file():  # a part is written whole (then renamed), so it is never partial
            torch.save(train_bottleneck(m, train_x, rest, held, args), out / f"m{m}.pt.part")
            (out / f"m{m}.pt.part").rename(part)
        parts[m] = torch.load(part, weights_only=False)  # this script's own file
        if len(parts[m]["mse"]) != args.rows:
            raise SystemExit(f"{part} holds {len(parts[m]['mse'])} rows, not --rows "
                             f"{args.rows}: give the --rows it was trained with")
    if args.only:
        print(json.dumps({args.only: parts[args.only]["record"]}, indent=1))
        return
    record = {"data": "grey MNIST test images: 8000 train / 2000 held out",
              "pixelcnn": {"layers": args.layers, "channels": args.channels, "kernel": 5,
                           "levels": 256},
              "threads": torch.get_num_threads(),
              "bottlenecks": {m: parts[m]["record"] for m in BOTTLENECKS}}
    cols = [held] + [parts[m][k] for m in BOTTLENECKS for k in ("mse", "pixelcnn")]
    titles = ["original"] + [f"{name}, m={m}" for m in BOTTLENECKS
                             for name in ("MSE", "PixelCNN")]
    path = save(figure(cols, titles), out / "figure6.png")
    (out / "figure6.json").write_text(json.dumps(record, indent=1))
    print(f"wrote {path}: columns {' | '.join(titles)}")
    print(json.dumps(record, indent=1))


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
