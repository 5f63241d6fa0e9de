"""Static binarized MNIST suite: train each configuration, then measure test bounds (K up to
5000), information diagnostics and gradient SNR. Resumable: rerun the same command to continue.

    python benchmarks/mnist_suite.py --epochs 20 --out runs/bench --eval-n 2000 \
        --configs vae-k1-l1 iwae-k5-l1 iwae-k50-l1

Each configuration is NAME = {vae,iwae}-k{K}-l{layers}[-{estimator}[+{baseline}]]. Results go
to OUT/results.jsonl (one JSON object per configuration); `report.py` renders the tables.

On a GPU, Burda et al.'s table (the ten configurations of their Table 1) in 10-minute commands:
each call trains until ``--time-limit`` minutes have passed (checkpointed), and the same command
continues; a configuration already in results.jsonl is skipped:

    python benchmarks/mnist_suite.py --schedule burda --compile reduce-overhead --time-limit 8 \
        --eval-n 0 --out runs/burda --configs vae-k1-l1 vae-k5-l1 iwae-k5-l1 vae-k50-l1 \
        iwae-k50-l1 vae-k1-l2 vae-k5-l2 iwae-k5-l2 vae-k50-l2 iwae-k50-l2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import machine

import vaelab
from vaelab.estimators import make_estimator
from vaelab.estimators.diagnostics import fit_baseline, gradient_statistics
from vaelab.eval import evaluate, random_subset, vae_information
from vaelab.objectives import make_objective


def parse(name: str) -> dict:
    """vae-k5-l1 -> the ELBO averaged over 5 samples; iwae-k5-l1 -> L_5; 1 stochastic layer."""
    parts = name.split("-")
    model, k, layers = parts[0], int(parts[1][1:]), int(parts[2][1:])
    est, base = "reparam", "none"
    if len(parts) > 3:
        est, _, b = parts[3].partition("+")
        base = b or "none"
    return dict(model=model, k=k, layers=layers, estimator=est, baseline=base)


def train_options(name: str) -> dict:
    p = parse(name)
    opts = dict(model="vae", objective="elbo" if p["model"] == "vae" else "iwae", k=p["k"],
                layers=p["layers"], estimator=p["estimator"])
    if p["estimator"] == "score_function":
        opts["baseline"] = p["baseline"]
    return opts


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
    ap.add_argument("--compile", default="", help="torch.compile mode of the whole training "
                    "step (reduce-overhead: one CUDA graph per step)")
    ap.add_argument("--time-limit", type=float, default=0.0, help="minutes for this call: stop "
                    "training after the epoch that passes it; rerun to continue")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    done = {json.loads(line)["config"] for line in results.read_text().splitlines()} \
        if results.is_file() else set()
    t_call = time.perf_counter()
    for name in args.configs:
        if name in done:
            continue
        run = out / name
        left = args.time_limit - (time.perf_counter() - t_call) / 60 if args.time_limit else 0.0
        if args.time_limit and left <= 0:
            print(f"--time-limit reached before {name}; rerun the same command to continue")
            return
        epochs = 0 if args.schedule == "burda" else args.epochs  # burda fixes its own length
        opts = dict(dataset=args.dataset, epochs=epochs, schedule=args.schedule,
                    eval_every=5, compile=args.compile, time_limit=left, **train_options(name))
        t0 = time.perf_counter()
        if (run / "checkpoints" / "last.safetensors").is_file():
            res = vaelab.train(out=run, resume=True, epochs=opts["epochs"], progress=False,
                               compile=args.compile, time_limit=left)
        else:
            res = vaelab.train(out=run, progress=False, **opts)
        train_s = time.perf_counter() - t0
        if res.record.get("stopped") == "time_limit":
            print(f"{name}: stopped by --time-limit after epoch {res.record['epoch']}; rerun the "
                  "same command to continue")
            return
        epochs_run = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        sec_per_epoch = sum(m["epoch_seconds"] for m in epochs_run) / len(epochs_run)
        lr = vaelab.load_run(run)
        x = random_subset(lr.data.test, args.eval_n, seed=0)
        ev = evaluate(lr.model, x, (1, 5, 50, args.eval_k), seed=0)
        xi = random_subset(lr.data.test, 5000, seed=1)
        info = vae_information(lr.model, xi, n=len(xi))  # I(z;x) lower bound is <= log n
        snr = {}
        xb = lr.data.train[:100].to(lr.device)
        p = parse(name)
        for K in sorted({1, p["k"]}):
            # at K = 1 DReG is STL and VIMCO has no other samples to build its baseline from
            kind = "stl" if p["estimator"] == "dreg" and K == 1 else p["estimator"]
            base = "none" if p["baseline"] == "vimco" and K == 1 else p["baseline"]
            opts = {"baseline": base} if kind == "score_function" else {}
            est = make_estimator(kind, K, xb[0].numel(), **opts)
            obj = make_objective("iwae" if K > 1 and p["model"] == "iwae" else "elbo")
            fit_baseline(est, lr.model, obj, xb)
            st = gradient_statistics(lr.model, est, obj, xb, args.snr_repeats)
            snr[K] = {g: s.snr for g, s in st.items()}
        mi = info.get("mi_kl_form", {}).get("value")
        klagg = (info.get("kl_aggregate_prior") or info.get("kl_aggregate_prior_layer1_prior_n01"))
        rec = {"config": name, **parse(name), "epochs": len(epochs_run), "machine": machine(),
               "train_seconds_this_call": train_s, "seconds_per_epoch": sec_per_epoch,
               "eval_n": len(x), "eval_seconds": ev["seconds"], "bounds": ev["bounds"],
               "nll": ev["nll"], "nll_stderr": ev["nll_stderr"],
               "mi": mi, "mi_upper": info["mi_upper"]["value"], "mi_n": len(xi),
               "kl_aggregate_prior": klagg["value"] if klagg else None,
               "rate": info["rate"]["value"], "active_units": ev["active_units_per_layer"],
               "snr": snr}
        with open(results, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
