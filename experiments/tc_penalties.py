"""FactorVAE (Kim & Mnih 2018, a density-ratio discriminator) beside beta-TCVAE (Chen et al.
2018, the minibatch-weighted estimate) on the procedural shapes data set (known factors): the
same convolutional VAE, the same epochs, the five disentanglement metrics (MIG, beta-VAE,
FactorVAE, DCI, SAP), reconstruction, rate, and each one's own total-correlation estimate.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python experiments/tc_penalties.py \\
        --epochs 10 --out runs/tc_penalties

Writes OUT/results.jsonl (one row a model) and prints a Markdown table. Rows resume from their
checkpoints.
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
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--gamma", type=float, default=35.0, help="FactorVAE's weight (Kim & "
                    "Mnih: 35 on dSprites)")
    ap.add_argument("--tc-weight", type=float, default=6.0, help="beta-TCVAE's beta (Chen et "
                    "al.: 6 on dSprites)")
    ap.add_argument("--dataset", default="shapes")
    ap.add_argument("--latent", type=int, default=10)
    ap.add_argument("--points", type=int, default=500)
    ap.add_argument("--out", default="runs/tc_penalties")
    args = ap.parse_args()
    out = Path(args.out)
    common = dict(dataset=args.dataset, epochs=args.epochs, batch_size=64, latent=args.latent,
                  eval_every=args.epochs, eval_k=10, progress=False)
    runs = {f"factorvae gamma={args.gamma:g}": dict(model="factorvae", tc_gamma=args.gamma),
            f"beta-tcvae beta={args.tc_weight:g}": dict(model="convvae", objective="tcvae",
                                                        tc_weight=args.tc_weight),
            "vae (beta=1)": dict(model="convvae")}
    rows = []
    for name, opts in runs.items():
        run = out / name.split()[0]
        if (run / "checkpoints" / "last.safetensors").is_file():
            vaelab.train(out=run, resume=True, epochs=args.epochs, progress=False)
        else:
            vaelab.train(out=run, **opts, **common)
        cli(["disentangle", str(run), "--points", str(args.points), "--no-progress"])
        d = json.loads((run / "disentanglement.json").read_text())
        lr = vaelab.load_run(run)
        rd = rate_distortion(lr.model, lr.data.test)
        row = {"model": name, "epochs": args.epochs, **d,
               "reconstruction_nll": rd["distortion"].value, "rate": rd["rate"].value,
               "elbo": rd["elbo"]}
        rows.append(row)
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
    print("| model | MIG | beta-VAE metric | FactorVAE metric | DCI D / C / I | SAP | "
          "reconstruction (nats) | rate (nats) | ELBO |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [f"{r[k]:.3f}" for k in ("mig",)] + \
            [f"{r[k]:.2f}" for k in ("beta_vae_metric", "factor_vae_metric")] + \
            [" / ".join(f"{r['dci_' + k]:.3f}" for k in ("disentanglement", "completeness",
                                                          "informativeness")),
             f"{r['sap']:.3f}", f"{r['reconstruction_nll']:.1f}", f"{r['rate']:.1f}",
             f"{r['elbo']:.1f}"]
        print(f"| {r['model']} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
