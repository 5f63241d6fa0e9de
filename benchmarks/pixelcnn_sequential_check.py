"""Check a trained PixelCNN run for information leaks: the exact log-likelihood of each test
image computed one pixel at a time (pixels >= i zeroed when predicting pixel i) must equal the
one-pass value. A masking bug would make the one-pass NLL too good and fail this.

    VAELAB_DATA=../shared/data python benchmarks/pixelcnn_sequential_check.py RUN_DIR --n 8
"""

from __future__ import annotations

import argparse
import json

import torch

from vaelab import load_run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--n", type=int, default=8, help="test images")
    args = ap.parse_args()
    run = load_run(args.run_dir, device="cpu")
    net = run.model.net
    H, W = run.model.x_shape[1:]
    x = run.data.test[: args.n]
    if run.model.levels > 2:
        x = torch.round(x * (run.model.levels - 1))
    with torch.no_grad():
        parallel = net.log_prob(x)
        sequential = torch.zeros(len(x), dtype=torch.float64)
        for i in range(H):
            for j in range(W):
                seen = x.clone()
                seen.view(len(x), -1)[:, i * W + j:] = 0  # hide x_i and everything after it
                lg = net.logits(seen)[:, i, j]
                sequential += net.distribution(lg).log_prob(x[:, 0, i, j]).double()
    gap = float((parallel.double() - sequential).abs().max())
    print(json.dumps({"run": args.run_dir, "n": len(x), "parallel_nll": (-parallel).tolist(),
                      "sequential_nll": (-sequential).tolist(), "max_abs_difference": gap}))
    if gap > 1e-3:
        raise SystemExit(f"sequential and parallel log-likelihoods differ by {gap:.3g} nats")


if __name__ == "__main__":
    main()
