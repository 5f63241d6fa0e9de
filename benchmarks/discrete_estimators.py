"""Discrete-latent estimators at the same budget: sigmoid belief networks on static binarized
MNIST trained with the score function (NVIL, VIMCO/RLOO baselines), REBAR, RELAX, Gumbel-softmax
and straight-through, side by side in one process, each step by the engine's update (RELAX's
surrogate on its own Adam group). Per estimator: the training bound per epoch,
the encoder gradient's variance per epoch (on one fixed batch), wall time per step, and the test
NLL (IS, K = 5000) at the end.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/discrete_estimators.py \\
        --epochs 10 --out runs/discrete

Writes OUT/results.json and OUT/gradient_variance.png (one figure, log scale).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import machine
from matplotlib.figure import Figure

from vaelab.data.registry import DataConfig, load_data
from vaelab.estimators import make_estimator
from vaelab.estimators.diagnostics import gradient_statistics
from vaelab.eval import evaluate_bounds, random_subset
from vaelab.models import SBN, SBNConfig
from vaelab.objectives import make_objective
from vaelab.training.config import OptimConfig
from vaelab.training.loop import EagerUpdate, Step
from vaelab.training.session import make_adam
from vaelab.viz import save

# name: (estimator, options, K, objective)
CONFIGS = {
    "score_function (K=1, no baseline)": ("score_function", {}, 1, "elbo"),
    "score_function+nvil": ("score_function", {"baseline": "nvil"}, 1, "elbo"),
    "rloo (k=5, elbo)": ("score_function", {"baseline": "vimco"}, 5, "elbo"),
    "vimco (k=5, iwae)": ("score_function", {"baseline": "vimco"}, 5, "iwae"),
    "rebar (tau=0.5, eta=1)": ("rebar", {"temperature": 0.5}, 1, "elbo"),
    "relax (tau=0.5, learned r)": ("relax", {"temperature": 0.5}, 1, "elbo"),
    "gumbel (tau=0.5)": ("gumbel", {"temperature": 0.5}, 1, "elbo"),
    "straight_through": ("straight_through", {"temperature": 0.5}, 1, "elbo"),
}


def run(name: str, data, args) -> dict:
    est_name, opts, k, objective = CONFIGS[name]
    torch.manual_seed(args.seed)
    model = SBN(SBNConfig(x_shape=data.image_shape, sbn_hidden=args.sbn_hidden,
                          bernoulli_layers=args.bernoulli_layers))
    model.init_from_data(data.train_mean())
    est = make_estimator(est_name, k, data.dim, **opts)
    obj = make_objective(objective)
    est.check(model, obj)
    # the engine's own step: an auxiliary network (RELAX's surrogate) gets its own Adam group
    step = Step(model, est, obj)
    opt = make_adam(step.param_groups(args.lr), OptimConfig(lr=args.lr))
    update = EagerUpdate(step, opt, step=step)
    x_train, probe = data.split("train"), data.split("train")[:100]
    curve, variance, seconds, steps = [], [], 0.0, 0
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x_train))
        total = 0.0
        t0 = time.perf_counter()
        for i in range(0, len(x_train), args.batch_size):
            x = x_train[perm[i:i + args.batch_size]]
            _, bound = update(x)
            total += float(bound) * len(x)
            steps += 1
        seconds += time.perf_counter() - t0
        curve.append(total / len(x_train))
        stats = gradient_statistics(model, est, obj, probe, args.variance_repeats)
        variance.append(stats["encoder"].total_variance)
        print(f"{name} epoch {epoch + 1}: train bound {curve[-1]:.2f}, encoder gradient "
              f"variance {variance[-1]:.3g}", flush=True)
    torch.manual_seed(args.seed)
    test = random_subset(data.split("test"), args.eval_n, args.seed)
    ev = evaluate_bounds(model.eval(), test, [1, 5000])
    return {"estimator": name, "train_bound": curve, "encoder_variance": variance,
            "ms_per_step": 1000 * seconds / steps, "test_elbo": ev["bounds"][1],
            "test_nll": -ev["bounds"][5000], "test_nll_stderr": ev["stderr"][5000],
            "test_nll_mc_stderr": ev["mc_stderr"]}


def figure(rows: list[dict]) -> Figure:
    fig = Figure(figsize=(10, 4))
    a, b = fig.subplots(1, 2)
    for r in rows:
        epochs = range(1, len(r["train_bound"]) + 1)
        a.plot(epochs, r["train_bound"], label=r["estimator"])
        b.semilogy(epochs, r["encoder_variance"], label=r["estimator"])
    a.set(title="Training bound", xlabel="epoch", ylabel="bound (nats per image)")
    b.set(title="Encoder gradient variance (fixed batch of 100)", xlabel="epoch",
          ylabel="sum of per-parameter variances (log scale)")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    fig.suptitle("Sigmoid belief network on static binarized MNIST")
    fig.tight_layout()
    return fig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--sbn-hidden", type=int, default=0, help="0: the linear SBN 200")
    ap.add_argument("--bernoulli-layers", type=int, default=1, choices=(1, 2, 3))
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--variance-repeats", type=int, default=20)
    ap.add_argument("--eval-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/discrete"))
    args = ap.parse_args()
    data, _ = load_data(DataConfig(dataset="binarized_mnist"))
    rows = [run(name, data, args) for name in args.configs]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"machine": machine(), "args": vars(args)
                                                       | {"out": str(args.out)}, "rows": rows},
                                                      indent=2))
    save(figure(rows), args.out / "gradient_variance.png")
    print("| estimator | ms/step | test ELBO | test NLL (K=5000) | final encoder variance |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['estimator']} | {r['ms_per_step']:.1f} | {-r['test_elbo']:.2f} | "
              f"{r['test_nll']:.2f} ± {r['test_nll_stderr']:.2f} | "
              f"{r['encoder_variance'][-1]:.3g} |")
    print(f"machine: {machine()}; {args.epochs} epochs each")


if __name__ == "__main__":
    main()
