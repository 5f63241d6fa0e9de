"""beta-VAE study: the disentanglement metrics (MIG, beta-VAE, FactorVAE, DCI, SAP) and
reconstruction against beta on the procedural shapes data set (known factors).

    python experiments/beta_sweep.py --betas 1 2 4 8 --epochs 20 --out runs/beta_sweep

Writes OUT/results.jsonl and a traversal grid per beta (OUT/beta{b}/traverse.png).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import vaelab
from vaelab.cli.main import main as cli
from vaelab.eval import rate_distortion


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--betas", type=float, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--latent", type=int, default=10)
    ap.add_argument("--points", type=int, default=500)
    ap.add_argument("--out", default="runs/beta_sweep")
    args = ap.parse_args()
    out = Path(args.out)
    for beta in args.betas:
        run = out / f"beta{beta:g}"
        if (run / "checkpoints" / "last.safetensors").is_file():
            vaelab.train(out=run, resume=True, epochs=args.epochs, progress=False)
        else:
            vaelab.train(out=run, model="convvae", beta=beta, dataset=args.dataset,
                         epochs=args.epochs, batch_size=64, latent=args.latent,
                         eval_every=args.epochs, eval_k=10, progress=False)
        cli(["disentangle", str(run), "--points", str(args.points)])
        cli(["traverse", str(run), "--dims", str(args.latent)])
        d = json.loads((run / "disentanglement.json").read_text())
        lr = vaelab.load_run(run)
        rd = rate_distortion(lr.model, lr.data.test)
        row = {"beta": beta, "epochs": args.epochs, **d,
               "reconstruction_nll": rd["distortion"].value, "rate": rd["rate"].value,
               "elbo": rd["elbo"]}
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
