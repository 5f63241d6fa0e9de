"""Static binarized MNIST suite: train each configuration, then measure test bounds (K up to
5000), information diagnostics and gradient SNR. Resumable: rerun the same command to continue.

    python benchmarks/mnist_suite.py --epochs 20 --out runs/bench --eval-n 2000 \
        --configs vae-k1-l1 iwae-k5-l1 iwae-k50-l1

Each configuration is NAME = {vae,iwae}-k{K}-l{layers}[-{estimator}[+{baseline}]]. Results go
to OUT/results.jsonl (one JSON object per configuration); `report.py` renders the tables.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import machine

from vaelab.estimators import make_estimator
from vaelab.estimators.diagnostics import fit_baseline, gradient_statistics
from vaelab.eval import active_units, evaluate_bounds, posterior_means
from vaelab.info import vae_information
from vaelab.train import TrainConfig, load_run, train


def parse(name: str) -> dict:
    parts = name.split("-")
    model, k, layers = parts[0], int(parts[1][1:]), int(parts[2][1:])
    est, base = "reparam", "none"
    if len(parts) > 3:
        est, _, b = parts[3].partition("+")
        base = b or "none"
    return dict(model=model, k=k, layers=layers, estimator=est, baseline=base)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--schedule", default="constant")
    ap.add_argument("--out", default="runs/bench")
    ap.add_argument("--dataset", default="binarized_mnist")
    ap.add_argument("--eval-n", type=int, default=0, help="random test subset (0: all)")
    ap.add_argument("--eval-k", type=int, default=5000)
    ap.add_argument("--snr-repeats", type=int, default=50)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.configs:
        run = out / name
        cfg = TrainConfig(dataset=args.dataset, epochs=args.epochs, schedule=args.schedule,
                          eval_every=5, **parse(name))
        t0 = time.perf_counter()
        resume = (run / "checkpoints" / "last.safetensors").is_file()
        train(cfg, run, resume=resume, progress=False)
        train_s = time.perf_counter() - t0
        epochs_run = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        sec_per_epoch = sum(m["epoch_seconds"] for m in epochs_run) / len(epochs_run)
        lr = load_run(run)
        x = lr.data.test
        if args.eval_n and args.eval_n < len(x):
            x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:args.eval_n]]
        torch.manual_seed(0)
        t0 = time.perf_counter()
        ev = evaluate_bounds(lr.model, x, ks=(1, 5, 50, args.eval_k))
        eval_s = time.perf_counter() - t0
        g = torch.Generator().manual_seed(1)
        xi = lr.data.test[torch.randperm(len(lr.data.test), generator=g)[:5000]]
        info = vae_information(lr.model, xi, n=len(xi))  # I(z;x) lower bound is <= log n
        au = [active_units(m)[0] for m in posterior_means(lr.model, x)]
        snr = {}
        xb = lr.data.train[:100].to(lr.device)
        for K in sorted({1, cfg.k}):
            # at K = 1 DReG is STL and VIMCO has no other samples to build its baseline from
            kind = "stl" if cfg.estimator == "dreg" and K == 1 else cfg.estimator
            base = "none" if cfg.baseline == "vimco" and K == 1 else cfg.baseline
            est = make_estimator(kind, cfg.objective if K > 1 else "elbo", K, base,
                                 x_dim=xb.shape[1])
            fit_baseline(est, lr.model, xb)
            st = gradient_statistics(lr.model, est, xb, args.snr_repeats)
            snr[K] = {g: s.snr for g, s in st.items()}
        mi = info.get("mi_kl_form", {}).get("value")
        klagg = (info.get("kl_aggregate_prior") or info.get("kl_aggregate_prior_layer1_prior_n01"))
        rec = {"config": name, **parse(name), "epochs": len(epochs_run), "machine": machine(),
               "train_seconds_this_call": train_s, "seconds_per_epoch": sec_per_epoch,
               "eval_n": len(x), "eval_seconds": eval_s,
               "bounds": {str(k): v for k, v in ev["bounds"].items()},
               "nll": -ev["bounds"][args.eval_k], "nll_stderr": ev["stderr"][args.eval_k],
               "mi": mi, "mi_upper": info["mi_upper"]["value"], "mi_n": len(xi),
               "kl_aggregate_prior": klagg["value"] if klagg else None,
               "rate": info["rate"]["value"], "active_units": au, "snr": snr}
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
