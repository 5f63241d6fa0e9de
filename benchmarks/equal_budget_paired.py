"""Equal budget beside the authors' code, compared on the same test images: every vaelab run and
every run of jmtomczak/vae_vampprior scored by one evaluator (vaelab's, K = 5000) on the same
images, so that the difference between the two implementations is measured image by image.

    OMP_NUM_THREADS=1 python benchmarks/equal_budget_paired.py --prior standard \
        --vaelab runs/equal_budget/vaelab-vae-standard runs/equal_budget/vaelab-vae-standard-seed1 \
        --peer runs/equal_budget/peer-work-standard runs/equal_budget/peer-work-standard-seed1 \
        --examples 2000 --out runs/equal_budget/paired-standard

(the runs come from ``experiments/equal_budget_vampprior.sh``, one seed per call). Prints and
writes OUT/paired.json: each run's NLL with its standard error over the images; each side's
mean over its seeds; and the difference vaelab - theirs with three errors, stated apart:
``se_images`` (the standard error of the per-image difference of the seed means: how the
difference would move with other test images), ``se_seeds`` (sqrt(s_v^2/n_v + s_p^2/n_p), the
seed spread of each side: how it would move with other seeds; needs two seeds a side) and
``se_mc`` (the Monte Carlo error of the estimator), and ``se`` the three combined. The
per-image log-likelihoods are cached in OUT (one ``.npy`` per run), so a rerun with one more
seed scores only the new run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from peer_vampprior import test_subset, their_model  # noqa: E402

from vaelab.eval.likelihood import evaluate_bounds  # noqa: E402
from vaelab.training import load_run  # noqa: E402


def per_image(model, x: torch.Tensor, k: int, cache: Path) -> tuple[np.ndarray, float]:
    """log p(x_i) estimates L_K, ``[N]``, and the Monte Carlo error of their mean."""
    if cache.is_file():
        d = np.load(cache)
        return d["ll"], float(d["mc"])
    res = evaluate_bounds(model, x, (k,), generator=torch.Generator().manual_seed(0))
    ll = np.asarray(res["per_example"][k], dtype=np.float64)
    mc = float(res["mc_stderr"])
    np.savez(cache.with_suffix(".part.npz"), ll=ll, mc=mc)
    cache.with_suffix(".part.npz").rename(cache)
    return ll, mc


def side(lls: list[np.ndarray], mcs: list[float]) -> dict:
    nll = [-float(v.mean()) for v in lls]
    return {"nll_per_seed": nll, "nll": float(np.mean(nll)),
            "seed_sd": float(np.std(nll, ddof=1)) if len(nll) > 1 else None,
            "mc": math.sqrt(sum(m * m for m in mcs)) / len(mcs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vaelab", nargs="+", type=Path, required=True, help="vaelab run folders")
    ap.add_argument("--peer", nargs="+", type=Path, required=True,
                    help="--work folders of benchmarks/peer_vampprior.py (their snapshots)")
    ap.add_argument("--prior", choices=("standard", "vampprior"), required=True)
    ap.add_argument("--model", choices=("vae", "hvae_2level"), default="vae")
    ap.add_argument("--examples", type=int, default=2000, help="test images (0: all 10,000), "
                    "the subset `vaelab eval --examples N --seed 0` takes")
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "VAELAB_DATA", "../shared/data")) / "binarized_mnist.npz")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    x = torch.from_numpy(test_subset(np.load(args.data)["test"], args.examples)).float()
    x = x.view(-1, 1, 28, 28)
    runs: dict[str, dict] = {}
    lls: dict[str, list[np.ndarray]] = {"vaelab": [], "theirs": []}
    mcs: dict[str, list[float]] = {"vaelab": [], "theirs": []}
    for who, folder in [("vaelab", f) for f in args.vaelab] + [("theirs", f) for f in args.peer]:
        if who == "vaelab":
            model = load_run(folder, device="cpu").model.eval()
        else:
            model = their_model(next((folder / "snapshots").glob(f"*/{args.model}.model")),
                                args.model, args.prior)
        ll, mc = per_image(model, x, args.k, args.out / f"{who}-{folder.name}-{len(x)}.npz")
        lls[who].append(ll)
        mcs[who].append(mc)
        runs[f"{who}:{folder}"] = {"nll": -float(ll.mean()),
                                   "se_images": float(ll.std(ddof=1) / math.sqrt(len(ll))),
                                   "se_mc": mc}
        print(f"{who:7s} {folder}: NLL {runs[f'{who}:{folder}']['nll']:.2f} "
              f"± {runs[f'{who}:{folder}']['se_images']:.2f}", flush=True)
    v, p = side(lls["vaelab"], mcs["vaelab"]), side(lls["theirs"], mcs["theirs"])
    d = -(np.mean(lls["vaelab"], 0) - np.mean(lls["theirs"], 0))  # NLL difference per image
    se_images = float(d.std(ddof=1) / math.sqrt(len(d)))
    se_seeds = (math.sqrt(v["seed_sd"] ** 2 / len(lls["vaelab"])
                          + p["seed_sd"] ** 2 / len(lls["theirs"]))
                if v["seed_sd"] is not None and p["seed_sd"] is not None else None)
    se_mc = math.hypot(v["mc"], p["mc"])
    se = math.sqrt(se_images ** 2 + (se_seeds or 0.0) ** 2 + se_mc ** 2)
    diff = {"nll_vaelab_minus_theirs": float(d.mean()), "se_images": se_images,
            "se_seeds": se_seeds, "se_mc": se_mc, "se": se,
            "z": float(d.mean() / se), "within_2se": bool(d.mean() <= 2 * se)}
    res = {"prior": args.prior, "model": args.model, "examples": len(x), "k": args.k,
           "runs": runs, "vaelab": v, "theirs": p, "difference": diff}
    (args.out / "paired.json").write_text(json.dumps(res, indent=1))
    print(f"vaelab {v['nll']:.2f} ({len(lls['vaelab'])} seeds), theirs {p['nll']:.2f} "
          f"({len(lls['theirs'])} seeds): vaelab - theirs = {d.mean():+.2f} ± {se:.2f} "
          f"(images {se_images:.2f}, seeds {se_seeds if se_seeds is None else round(se_seeds, 2)}"
          f", Monte Carlo {se_mc:.3f})")


if __name__ == "__main__":
    main()
