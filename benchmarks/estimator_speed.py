"""Cost of a training step with each gradient estimator, side by side in one process.

    python benchmarks/estimator_speed.py --k 1 5 50 --steps 30 [--device cuda]

Burda et al.'s 1-layer model, batch 100 of the embedded digits, model step + Adam. The estimators
are timed in interleaved rounds, so a machine that slows down during the run slows all of them
alike; the table gives ms per step and the ratio to the reparameterization estimator at the
same K.
"""

from __future__ import annotations

import argparse

import torch
from common import machine, time_steps

from vaelab.data import embedded
from vaelab.estimators import make_estimator
from vaelab.models import VAE, VAEConfig
from vaelab.objectives import make_objective
from vaelab.training.loop import Step

VARIANTS = [("reparam", "none"), ("stl", "none"), ("dreg", "none"), ("score_function", "nvil"),
            ("score_function", "vimco")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, nargs="+", default=[1, 5, 50])
    ap.add_argument("--steps", type=int, default=30, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    x = embedded().train[:100].to(dev)
    torch.manual_seed(0)
    steps = {}
    for K in args.k:
        for est, base in VARIANTS:
            if (est == "dreg" or base == "vimco") and K == 1:
                continue
            model = VAE(VAEConfig()).to(dev)
            opts = {"baseline": base} if est == "score_function" else {}
            obj = Step(model, make_estimator(est, K, x[0].numel(), **opts),
                       make_objective("iwae")).to(dev)
            opt = torch.optim.Adam(obj.parameters(), 1e-3)

            def step(obj=obj, opt=opt):
                loss, _ = obj(x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            step()  # warm-up
            steps[est, base, K] = step
    total = dict.fromkeys(steps, 0.0)
    for _ in range(args.rounds):
        for key, step in steps.items():
            total[key] += time_steps(step, args.steps, dev)
    n = args.rounds * args.steps
    print(f"Machine: {machine(dev)}; batch 100, {n} steps each\n")
    print("| estimator | baseline | K | ms / step | × reparam |\n|---|---|---|---|---|")
    for (est, base, K), t in total.items():
        ref = total["reparam", "none", K]
        print(f"| {est} | {base} | {K} | {1000 * t / n:.1f} | {t / ref:.2f} |")


if __name__ == "__main__":
    main()
