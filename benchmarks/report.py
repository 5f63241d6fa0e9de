"""Render OUT/results.jsonl (from mnist_suite.py) as Markdown tables (latest record per config)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


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


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench/results.jsonl")
