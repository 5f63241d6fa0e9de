"""Render OUT/results.jsonl (from mnist_suite.py) as Markdown tables (latest record per config)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (ICLR 2016), Table 1, MNIST
# column: test NLL in nats (K = 5000), the ten configurations of VAE and IWAE at k = 1, 5, 50
# with one and two stochastic layers (at k = 1 both are the VAE). Transcribed here offline:
# check them against the paper before quoting a difference below 0.1 nats.
PAPER_NLL = {"vae-k1-l1": 86.76, "vae-k5-l1": 86.47, "iwae-k5-l1": 85.54, "vae-k50-l1": 86.35,
             "iwae-k50-l1": 84.78, "vae-k1-l2": 85.33, "vae-k5-l2": 85.01, "iwae-k5-l2": 83.89,
             "vae-k50-l2": 84.78, "iwae-k50-l2": 82.90}


def main(path: str) -> None:
    rows: dict = {}
    for line in Path(path).read_text().splitlines():
        r = json.loads(line)
        rows[r["config"]] = r
    print("| config | epochs | s/epoch | L_1 | L_5 | L_50 | NLL (K=5000) | I(z;x) [lower, upper] | "
          "KL(q(z)‖p(z)) | rate | active units | enc SNR k=1 / k | dec SNR k=1 / k |")
    print("|" + "---|" * 13)
    # the model grid first (1 then 2 layers, VAE then IWAE, by K), then the other estimators
    order = sorted(rows.values(), key=lambda r: (r["estimator"] != "reparam", r["layers"],
                                                 r["model"] != "vae", r["k"], r["estimator"],
                                                 r["baseline"]))
    for r in order:
        b = r["bounds"]
        # two layers: p(z_1) is not N(0, I), so the split refers to a different prior: omit it
        klagg = f"{r['kl_aggregate_prior']:.2f}" if r["layers"] == 1 else "n/a"
        ks = sorted(r["snr"], key=int)
        enc = " / ".join(f"{r['snr'][k]['encoder']:.3f}" for k in ks)
        dec = " / ".join(f"{r['snr'][k]['decoder']:.3f}" for k in ks)
        print(f"| {r['config']} | {r['epochs']} | {r['seconds_per_epoch']:.1f} | {b['1']:.2f} | "
              f"{b['5']:.2f} | {b['50']:.2f} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | "
              f"[{r['mi']:.2f}, {r['mi_upper']:.2f}] | {klagg} | "
              f"{r['rate']:.2f} | "
              f"{sum(r['active_units'])} {r['active_units']} | {enc} | {dec} |")
    m = next(iter(rows.values()))
    print(f"\nMachine: {m['machine']}; evaluated on {m['eval_n']} test images.")
    burda = [r for r in order if r["config"] in PAPER_NLL]
    if burda:
        print()
        print_paper_table(burda)


def print_paper_table(rows: list[dict]) -> None:
    """Each of Burda et al.'s configurations: our NLL (K = 5000), the paper's, the difference."""
    print("| config | epochs | NLL (K=5000) ± s.e. over images | Burda et al. | difference | "
          "active units |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        paper = PAPER_NLL[r["config"]]
        print(f"| {r['config']} | {r['epochs']} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | "
              f"{paper:.2f} | {r['nll'] - paper:+.2f} | {sum(r['active_units'])} "
              f"{r['active_units']} |")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench/results.jsonl")
