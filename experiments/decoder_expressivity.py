"""Decoder expressivity study (lecture: "information encoded in z depends on expressivity of the
decoder"). PixelVAE with 0 (factorized) .. N gated PixelCNN layers; for each, test NLL (K
samples), average KL (rate), I(z;x), KL(q(z)||p(z)), active units; optionally with free bits.

    python experiments/decoder_expressivity.py --dataset binarized_mnist --layers 0 1 2 4 8 \
        --free-bits 0 0.25 --epochs 20 --out runs/expressivity

Writes OUT/results.jsonl and OUT/expressivity.png (KL and NLL against decoder depth).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import vaelab
from vaelab.eval import evaluate, random_subset, vae_information


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="embedded")
    ap.add_argument("--layers", type=int, nargs="+", default=[0, 1, 2, 4])
    ap.add_argument("--free-bits", type=float, nargs="+", default=[0.0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--eval-n", type=int, default=500)
    ap.add_argument("--eval-k", type=int, default=50)
    ap.add_argument("--out", default="runs/expressivity")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for fb in args.free_bits:
        for n_layers in args.layers:
            run = out / f"pixelvae-l{n_layers}-fb{fb:g}"
            if (run / "checkpoints" / "last.safetensors").is_file():
                vaelab.train(out=run, resume=True, epochs=args.epochs, progress=False)
            else:
                vaelab.train(out=run, model="pixelvae", dataset=args.dataset, epochs=args.epochs,
                             pixel_layers=n_layers, pixel_channels=args.channels,
                             latent=args.latent, free_bits=fb, eval_every=args.epochs,
                             eval_k=10, progress=False)
            lr = vaelab.load_run(run)
            x = random_subset(lr.data.test, args.eval_n, seed=0)
            ev = evaluate(lr.model, x, (1, args.eval_k), seed=0)
            info = vae_information(lr.model, x, n=len(x))
            au = ev["active_units"]
            row = {"pixel_layers": n_layers, "free_bits": fb, "epochs": args.epochs,
                   "nll": ev["nll"], "nll_stderr": ev["nll_stderr"],
                   "nll_k": args.eval_k, "elbo": ev["bounds"]["1"], "rate": info["rate"]["value"],
                   "mi": info["mi_kl_form"]["value"], "mi_stderr": info["mi_kl_form"]["stderr"],
                   "kl_aggregate_prior": info["kl_aggregate_prior"]["value"],
                   "active_units": au, "eval_n": len(x), "dataset": args.dataset}
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    # every setting measured so far in OUT (the latest row of each), so sweeps can be extended
    latest = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        latest[(r["pixel_layers"], r["free_bits"])] = r
    plot(list(latest.values()), out / "expressivity.png")


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.5))
    a, b = fig.subplots(1, 2)
    for fb in sorted({r["free_bits"] for r in rows}):
        rs = sorted((r for r in rows if r["free_bits"] == fb), key=lambda r: r["pixel_layers"])
        n = [r["pixel_layers"] for r in rs]
        a.plot(n, [r["rate"] for r in rs], "o-", label=f"rate (avg KL), free bits {fb:g}")
        a.plot(n, [r["mi"] for r in rs], "s--", label=f"I(z;x), free bits {fb:g}")
        b.plot(n, [r["nll"] for r in rs], "o-", label=f"free bits {fb:g}")
    a.set(xlabel="PixelCNN layers in the decoder (0 = factorized)", ylabel="nats",
          title="information in z")
    b.set(xlabel="PixelCNN layers in the decoder", ylabel="test NLL (nats)", title="NLL")
    a.legend(fontsize=7)
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
