"""Issue 16 at an equal (short) budget on static binarized MNIST: objectives (IWAE, MIWAE, CIWAE,
PIWAE, Renyi, reweighted wake-sleep), posterior families (diagonal, full covariance,
inverse autoregressive flow) and priors
(N(0, I) vs VampPrior), all 1-layer Burda-architecture VAEs with K = 8 draws per example, the
same epochs, seed and learning rate; test NLL by IS with K = 5000 and the ELBO on the same random
test images. Each run is a `vaelab train` + `vaelab eval` pair, so every row can be rerun alone.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/objectives_posteriors.py \\
        --epochs 10 --out runs/objectives

Prints a markdown table; one JSON object per configuration in OUT/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {
    "iwae": ["--objective", "iwae"],
    "miwae (M=4)": ["--objective", "miwae", "--groups", "4"],
    "ciwae (0.5)": ["--objective", "ciwae", "--elbo-weight", "0.5"],
    "piwae (M=4)": ["--objective", "piwae", "--groups", "4"],
    "renyi (0.5)": ["--objective", "renyi", "--alpha", "0.5"],
    "rws": ["--objective", "iwae", "--estimator", "rws"],
    "iwae, full covariance": ["--objective", "iwae", "--posterior", "full"],
    "iwae, IAF posterior (2 steps)": ["--objective", "iwae", "--posterior", "iaf"],
    "iwae, VampPrior (500)": ["--objective", "iwae", "--prior", "vamp", "--components", "500"],
    "elbo (k=1)": ["--objective", "elbo", "--k", "1"],
}


def vaelab(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "vaelab", *args], capture_output=True,
                         text=True, check=True)
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--out", type=Path, default=Path("runs/objectives"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.configs:
        run = args.out / name.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
        opts = CONFIGS[name]
        k = [] if "--k" in opts else ["--k", str(args.k)]
        t0 = time.perf_counter()
        vaelab("train", "--model", "vae", "--dataset", "binarized_mnist", "--epochs",
               str(args.epochs), "--batch-size", "100", "--eval-k", "1", "--no-progress",
               "--overwrite", "--out", str(run), *k, *opts)
        seconds = time.perf_counter() - t0
        ev = json.loads(vaelab("eval", str(run), "--k", "1", "5000", "--examples",
                               str(args.examples), "--json").strip().splitlines()[-1])
        row = {"config": name, "train_seconds": seconds, "elbo": ev["bounds"]["1"],
               "nll": ev["nll"], "nll_stderr": ev["nll_stderr"],
               "nll_mc_stderr": ev["nll_mc_stderr"], "active_units": ev["active_units"]}
        rows.append(row)
        with (args.out / "results.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{name}: NLL {row['nll']:.2f}, ELBO {row['elbo']:.2f} ({seconds:.0f} s)",
              flush=True)
    print("| configuration | test NLL (K=5000) | test ELBO | active units | training time |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | {r['elbo']:.2f} | "
              f"{r['active_units']} | {r['train_seconds']:.0f} s |")


if __name__ == "__main__":
    main()
