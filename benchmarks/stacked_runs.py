"""N runs of one architecture: stacked (``vaelab.training.stacked``, one vmapped step) against
the same N runs one after the other, side by side in one process. Burda et al.'s 1-layer MLP
VAE, IWAE with K draws, batch 100, Adam; runs differ in initialization and learning rate.
Rounds alternate the order; the table gives the median aggregate examples per second.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/stacked_runs.py \\
        --runs 1 4 8 --k 5 --steps 20 --rounds 3 [--compile reduce-overhead]

``--compile MODE`` compiles both sides the way `vaelab train-stack --compile` and `vaelab train
--compile` do: the stacked step and each solo step as one graph (forward, backward, Adam).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import machine

from vaelab.data.registry import DataConfig, load_data
from vaelab.estimators import make_estimator
from vaelab.models.vae import VAE, VAEConfig
from vaelab.objectives import make_objective
from vaelab.training.engine import run_epoch
from vaelab.training.loop import EagerUpdate, Step
from vaelab.training.stacked import StackedRuns
from vaelab.training.whole_step import WholeStep


def steps_for(n: int, k: int, mean_x: torch.Tensor, device: torch.device) -> list[Step]:
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        m = VAE(VAEConfig())
        m.init_from_data(mean_x)
        out.append(Step(m, make_estimator("reparam", k, 784), make_objective("iwae")).to(device))
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", default="", help="torch.compile mode for both sides")
    args = ap.parse_args()
    device = torch.device(args.device)
    data, _ = load_data(DataConfig(dataset="binarized_mnist"))
    batches = list(data.split("train")[: args.steps * args.batch].to(device).split(args.batch))
    mean_x = data.train_mean()
    print(f"{machine(device)}; IWAE K = {args.k}, batch {args.batch}, {args.steps} steps per "
          f"round; {args.compile or 'eager'}")
    print("| runs | stacked (examples/s, all runs) | one after the other | ratio |")
    print("|---|---|---|---|")
    for n in args.runs:
        lrs = [1e-3 * (1 + i) for i in range(n)]
        stacked = StackedRuns(steps_for(n, args.k, mean_x, device), lrs, compile=args.compile)
        solos = []
        for s, lr in zip(steps_for(n, args.k, mean_x, device), lrs):
            if args.compile:
                opt = torch.optim.Adam(s.parameters(), lr=lr, eps=1e-4, capturable=True)
                solos.append(WholeStep(s, opt, args.compile))
            else:
                opt = torch.optim.Adam(s.parameters(), lr=lr, eps=1e-4, fused=True)
                solos.append(EagerUpdate(s, opt))

        def run_stacked(stacked=stacked):
            for x in batches:
                stacked.step(x)

        def run_solo(solos=solos):
            for update in solos:
                run_epoch([update], batches, device)

        runs = {"stacked": run_stacked, "solo": run_solo}
        times: dict[str, list[float]] = {k: [] for k in runs}
        for r in range(args.rounds + 1):
            for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                sync(device)
                t0 = time.perf_counter()
                runs[name]()
                sync(device)
                if r:  # round 0 warms up
                    times[name].append(time.perf_counter() - t0)
        rate = {k: n * args.steps * args.batch / statistics.median(v) for k, v in times.items()}
        print(f"| {n} | {rate['stacked']:.0f} | {rate['solo']:.0f} | "
              f"{rate['stacked'] / rate['solo']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
