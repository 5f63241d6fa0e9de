"""The Rainforth et al. (2018) trade-off, measured: encoder (phi) and decoder (theta) gradient
SNR of each multi-sample objective at the same budget of draws per example, on one trained
model and one fixed batch of training images.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/objective_snr.py \\
        runs/objectives/iwae --budget 64 --repeats 100

SNR per parameter is |E[g_i]| / std[g_i] over ``repeats`` independent estimates of the batch-mean
gradient; the table reports its mean and median over each group's parameters. Writes one JSON
object per row to OUT.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import machine

from vaelab.estimators import make_estimator
from vaelab.estimators.diagnostics import gradient_statistics
from vaelab.eval import random_subset
from vaelab.objectives import make_objective
from vaelab.training import load_run


def configs(budget: int, groups: int) -> dict[str, tuple[str, str, dict]]:
    """name: (estimator, objective, objective options), all with ``budget`` draws."""
    return {
        f"ELBO (M={budget}, K=1)": ("reparam", "miwae", {"groups": budget}),
        f"IWAE (K={budget})": ("reparam", "iwae", {}),
        f"IWAE + DReG (K={budget})": ("dreg", "iwae", {}),
        f"MIWAE (M={groups}, K={budget // groups})": ("reparam", "miwae", {"groups": groups}),
        f"CIWAE (beta=0.5, K={budget})": ("reparam", "ciwae", {"elbo_weight": 0.5}),
        f"PIWAE (M={groups}, K={budget // groups})": ("reparam", "piwae", {"groups": groups}),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--budget", type=int, default=64)
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/objective_snr.jsonl"))
    args = ap.parse_args()
    run = load_run(args.run, device="cpu")
    model = run.model.train()
    x = random_subset(run.split("train"), args.batch, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{args.run}, {args.batch} training images, {args.repeats} repeats ({machine()})")
    print("| objective (budget of draws) | encoder SNR mean / median | decoder SNR mean / median "
          "| encoder variance | bound |")
    print("|---|---|---|---|---|")
    for name, (est_name, obj_name, opts) in configs(args.budget, args.groups).items():
        torch.manual_seed(args.seed)
        est, obj = make_estimator(est_name, args.budget, x[0].numel()), make_objective(
            obj_name, **opts)
        est.check(model, obj)
        obj.check_samples(args.budget)
        t0 = time.perf_counter()
        stats = gradient_statistics(model, est, obj, x, args.repeats)
        with torch.no_grad():
            bound = float(obj.bound(model.log_weights(x, args.budget)).mean())
        e, d = stats["encoder"], stats["decoder"]
        row = {"objective": name, "run": str(args.run), "machine": machine(),
               "encoder": e.to_dict(), "decoder": d.to_dict(), "bound": bound,
               "seconds": time.perf_counter() - t0}
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"| {name} | {e.snr:.3f} / {e.snr_median:.3f} | {d.snr:.3f} / {d.snr_median:.3f} "
              f"| {e.total_variance:.3g} | {bound:.2f} |", flush=True)


if __name__ == "__main__":
    main()
