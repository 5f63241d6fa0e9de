"""Validation curves side by side: a vaelab run and a run of the authors' code
(jmtomczak/vae_vampprior, through ``benchmarks/peer_vampprior.py``), epoch by epoch.

    python benchmarks/valid_curves.py runs/tomczak2018/hvae-vamp \
        runs/equal_budget/peer-hvae-vamp/log.txt --every 10

Both sides report the negative validation ELBO (K = 1, nats, all 10,000 validation images)
after each epoch: vaelab's ``valid_L1`` in ``metrics.jsonl`` (sign flipped), the authors' ``Val.
loss`` in their log. Prints the epochs both reached (every ``--every``-th, and the last), the
difference vaelab - theirs, and its mean over the shared epochs after the KL warm-up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from peer_vampprior import parse  # noqa: E402


def vaelab_curve(run: Path) -> dict[int, float]:
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "valid_L1" in rec:
            out[int(rec["epoch"])] = -float(rec["valid_L1"])
    return out


def peer_curve(log: Path) -> dict[int, float]:
    return {i + 1: v for i, v in enumerate(parse(log.read_text())["valid_loss"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("vaelab_run", type=Path)
    ap.add_argument("peer_log", type=Path, help="log.txt of peer_vampprior.py")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=100)
    args = ap.parse_args()
    ours, theirs = vaelab_curve(args.vaelab_run), peer_curve(args.peer_log)
    shared = sorted(set(ours) & set(theirs))
    if not shared:
        sys.exit("no epoch in both curves")
    print("epoch | vaelab | authors' code | vaelab - theirs")
    for e in shared:
        if e == 1 or e % args.every == 0 or e == shared[-1]:
            print(f"{e} | {ours[e]:.2f} | {theirs[e]:.2f} | {ours[e] - theirs[e]:+.2f}")
    late = [ours[e] - theirs[e] for e in shared if e > args.warmup]
    if late:
        print(f"mean difference over epochs {args.warmup + 1}-{shared[-1]}: "
              f"{sum(late) / len(late):+.2f} ({len(late)} epochs)")


if __name__ == "__main__":
    main()
