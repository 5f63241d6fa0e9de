"""Burda et al.'s IWAE beside a plain PyTorch implementation at an equal budget (issue 24).

The peer below is written from the paper alone, with nothing of vaelab: tanh MLPs
784-200-200-50 (one stochastic layer), a diagonal Gaussian encoder, Bernoulli decoder logits
with the output bias at the logit of the training mean, Adam (0.9, 0.999, eps 1e-4), minibatches
of 20, the first ``--stages`` stages of Burda's schedule (3^i epochs at 1e-3 * 10^(-i/7)), the
IWAE objective with k samples, and the test NLL by importance sampling with K = 5000 on all
10,000 test images (its own logsumexp). vaelab runs the same row from its preset
(``vaelab train --preset burda2015/iwae-k5-l1 --burda-stages S``). Both on one CPU thread, one
after the other; seconds per epoch are of the training passes only.

    OMP_NUM_THREADS=1 VAELAB_DATA=../shared/data python benchmarks/peer_plain_iwae.py \
        --stages 3 --k 5 --out runs/equal_budget/burda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


class PlainIWAE(nn.Module):
    def __init__(self, mean_x: torch.Tensor) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(),
                                 nn.Linear(200, 100))
        self.dec = nn.Sequential(nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(),
                                 nn.Linear(200, 784))
        m = mean_x.clamp(1e-3, 1 - 1e-3)
        with torch.no_grad():
            self.dec[-1].bias.copy_(torch.log(m) - torch.log1p(-m))

    def log_w(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """[k, B] log p(x, z) - log q(z|x) for z ~ q(z|x)."""
        mu, raw = self.enc(x).chunk(2, -1)
        sd = nn.functional.softplus(raw) + 1e-4
        eps = torch.randn(k, *mu.shape)
        z = mu + sd * eps
        log_q = (-0.5 * eps ** 2 - sd.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_pz = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
        logits = self.dec(z)
        log_px = (x * logits - nn.functional.softplus(logits)).sum(-1)
        return log_px + log_pz - log_q

    def bound(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return torch.logsumexp(self.log_w(x, k), 0) - math.log(k)


@torch.no_grad()
def nll(model: PlainIWAE, x: torch.Tensor, K: int = 5000, chunk: int = 500) -> tuple:
    per = []
    for i in range(len(x)):
        xi = x[i:i + 1]
        lw = torch.cat([model.log_w(xi, chunk)[:, 0] for _ in range(K // chunk)])
        per.append(torch.logsumexp(lw.double(), 0) - math.log(K))
    per = torch.stack(per)
    return -float(per.mean()), float(per.std() / math.sqrt(len(per)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", type=int, default=3)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/equal_budget/burda"))
    ap.add_argument("--eval-n", type=int, default=0, help="test images (0: all)")
    args = ap.parse_args()
    data = np.load(Path(os.environ.get("VAELAB_DATA", "../shared/data")) /
                   "binarized_mnist.npz")
    train, test = (torch.from_numpy(data[s]).float() for s in ("train", "test"))
    test = test if not args.eval_n else test[torch.randperm(
        len(test), generator=torch.Generator().manual_seed(0))[:args.eval_n]]
    args.out.mkdir(parents=True, exist_ok=True)

    # the peer
    torch.manual_seed(args.seed)
    model = PlainIWAE(train.mean(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    seconds, epochs = [], 0
    for i in range(args.stages):
        for g in opt.param_groups:
            g["lr"] = 1e-3 * 10 ** (-i / 7)
        for _ in range(3 ** i):
            t0 = time.perf_counter()
            for idx in torch.randperm(len(train)).split(20):
                loss = -model.bound(train[idx], args.k).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            seconds.append(time.perf_counter() - t0)
            epochs += 1
    t0 = time.perf_counter()
    peer_nll, peer_se = nll(model, test)
    peer = {"epochs": epochs, "epoch_seconds": seconds, "nll": peer_nll, "nll_stderr": peer_se,
            "eval_seconds": time.perf_counter() - t0}

    # vaelab, the same row from its preset
    run = args.out / "vaelab"
    vaelab = [sys.executable, "-m", "vaelab"]
    subprocess.run([*vaelab, "train", "--preset", f"burda2015/iwae-k{args.k}-l1",
                    "--burda-stages", str(args.stages), "--eval-every", str(10 ** 6),
                    "--seed", str(args.seed), "--out", str(run), "--overwrite",
                    "--no-progress"], check=True)
    ev = json.loads(subprocess.run([*vaelab, "eval", str(run), "--checkpoint", "last", "--k",
                                    "5000", "--json", "--no-progress"]
                                   + (["--examples", str(args.eval_n)] if args.eval_n else []),
                                   check=True, capture_output=True, text=True).stdout)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    ours = {"epochs": len(rows), "epoch_seconds": [r["epoch_seconds"] for r in rows],
            "nll": ev["nll"], "nll_stderr": ev["nll_stderr"],
            "nll_mc_stderr": ev["nll_mc_stderr"], "eval_seconds": ev["seconds"]}
    result = {"row": f"burda2015/iwae-k{args.k}-l1", "stages": args.stages,
              "threads": torch.get_num_threads(), "test_images": len(test),
              "plain_pytorch": peer, "vaelab": ours}
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    for name, r in (("plain PyTorch", peer), ("vaelab", ours)):
        print(f"{name:>14}: {r['epochs']} epochs, median {np.median(r['epoch_seconds']):.2f} "
              f"s/epoch, NLL {r['nll']:.2f} ± {r['nll_stderr']:.2f} (test images)")


if __name__ == "__main__":
    main()
