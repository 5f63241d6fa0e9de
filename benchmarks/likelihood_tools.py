"""Likelihoods beyond importance sampling, measured on trained runs: IS with K = 5000 versus AIS
at several step counts on the same test images, the BDMC sandwich on data simulated from each
model, the inference-gap decomposition, how many draws IS with the prior as proposal needs, and
(with ``--bdmc-repo``) the speed and estimate of the BDMC reference code's AIS on the same model.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/likelihood_tools.py \\
        --runs runs/ais/vae-k1-l1 runs/ais/iwae-k50-l1 --out runs/ais/likelihood.jsonl

``--bdmc-repo DIR`` is a checkout of github.com/lxuechen/BDMC (its ``ais.py`` is imported and
run on the same model, images, schedule, chains and leapfrog steps; MLP VAEs with a Bernoulli
decoder only). Prints markdown tables; one JSON object per run goes to OUT.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from common import machine

from vaelab.eval import evaluate_bounds, random_subset
from vaelab.eval.ais import AISConfig, ais, schedule
from vaelab.eval.bdmc import bdmc
from vaelab.eval.gaps import inference_gaps
from vaelab.eval.importance import model_log_evidence
from vaelab.eval.local_vi import LocalVIConfig
from vaelab.training import load_run


def reference_ais(repo: Path, model, x: torch.Tensor, steps: int, chains: int) -> dict:
    """The BDMC reference code's forward AIS (prior start, 10 leapfrog steps, its own step-size
    rule) on our model's decoder: mean log p̂(x) and wall time."""
    sys.path.insert(0, str(repo))
    import ais as ref  # the reference repository's module

    class Adapter:  # what its code reads from a model
        latent_dim = model.latent_dim

        @staticmethod
        def decode(z):
            return model.decoder[0](z)

    loader = [(x.flatten(1), None)]
    t0 = time.perf_counter()
    with torch.no_grad():
        logw = ref.ais_trajectory(Adapter, loader, forward=True,
                                  schedule=schedule(steps).float(), n_sample=chains)
    return {"mean": float(torch.cat(logw).mean()), "seconds": time.perf_counter() - t0}


def prior_proposal(model, x: torch.Tensor, ns: list[int], budget_s: float) -> list[dict]:
    """log p(x) by IS with the prior and with the encoder as proposal, for growing n."""
    rows = []
    for n in ns:
        row = {"n": n}
        for prop in ("prior", "posterior"):
            t0 = time.perf_counter()
            r = model_log_evidence(model, x, prop, n)
            row[prop] = {"mean": float(r["log_z"].mean()),
                         "mc_stderr": float(r["mc_stderr"].pow(2).sum().sqrt() / len(x)),
                         "mean_ess": float(r["ess"].mean()), "seconds": time.perf_counter() - t0}
        rows.append(row)
        print(f"    IS n={n}: prior {row['prior']['mean']:.2f} (ESS {row['prior']['mean_ess']:.1f})"
              f", encoder {row['posterior']['mean']:.2f}", flush=True)
        if row["prior"]["seconds"] > budget_s:
            break
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--ais-steps", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--bdmc-n", type=int, default=50)
    ap.add_argument("--bdmc-steps", type=int, nargs="+", default=[10, 100, 500])
    ap.add_argument("--gap-examples", type=int, default=50)
    ap.add_argument("--prior-n", type=int, nargs="+", default=[100, 10_000, 1_000_000])
    ap.add_argument("--prior-examples", type=int, default=20)
    ap.add_argument("--bdmc-repo", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/ais/likelihood.jsonl"))
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for run_dir in args.runs:
        run = load_run(run_dir, device="cpu")
        model = run.model.eval()
        x = random_subset(run.split("test"), args.examples, args.seed)
        res: dict = {"run": run_dir, "machine": machine(), "examples": len(x)}
        print(f"{run_dir} ({res['machine']})", flush=True)
        torch.manual_seed(args.seed)
        t0 = time.perf_counter()
        ev = evaluate_bounds(model, x, [1, 5000])
        res["is"] = {"elbo": ev["bounds"][1], "mean": ev["bounds"][5000],
                     "stderr": ev["stderr"][5000], "mc_stderr": ev["mc_stderr"],
                     "seconds": time.perf_counter() - t0}
        print(f"  IS K=5000: {res['is']['mean']:.3f} ({res['is']['seconds']:.1f} s)", flush=True)
        res["ais"] = []
        for s in args.ais_steps:
            torch.manual_seed(args.seed)
            a = ais(model, x, AISConfig(steps=s, chains=args.chains))
            per = torch.tensor(a["per_example"], dtype=torch.float64)
            diff = per - ev["per_example"][5000]
            res["ais"].append({"steps": s, **{k: a[k] for k in ("mean", "stderr", "mc_stderr",
                                                                   "acceptance", "seconds")},
                               "minus_is": float(diff.mean()),
                               "minus_is_stderr": float(diff.std() / math.sqrt(len(diff)))})
            print(f"  AIS T={s}: {a['mean']:.3f} ({a['seconds']:.1f} s)", flush=True)
            if args.bdmc_repo is not None and s == args.ais_steps[0]:
                torch.manual_seed(args.seed)
                res["reference_ais"] = {"steps": s, **reference_ais(args.bdmc_repo, model, x, s,
                                                                    args.chains)}
                print(f"  reference AIS T={s}: {res['reference_ais']['mean']:.3f} "
                      f"({res['reference_ais']['seconds']:.1f} s)", flush=True)
        torch.manual_seed(args.seed)
        res["bdmc"] = bdmc(model, args.bdmc_n, args.bdmc_steps, AISConfig(chains=4))
        for r in res["bdmc"]["rows"]:
            print(f"  BDMC T={r['steps']}: [{r['lower']['mean']:.3f}, {r['upper']['mean']:.3f}] "
                  f"({r['seconds']:.1f} s)", flush=True)
        torch.manual_seed(args.seed)
        g = inference_gaps(model, x[: args.gap_examples], 5000, None, LocalVIConfig())
        res["gaps"] = {k: {m: v for m, v in r.items() if not m.startswith("per_example")}
                       for k, r in g["rows"].items()} | {"seconds": g["seconds"],
                                                         "source": g["log_px_source"]}
        print("  gaps: " + ", ".join(f"{k} {v['mean']:.3f}" for k, v in res["gaps"].items()
                                     if isinstance(v, dict)), flush=True)
        torch.manual_seed(args.seed)
        res["prior_proposal"] = prior_proposal(model, x[: args.prior_examples], args.prior_n,
                                               budget_s=600)
        with args.out.open("a") as f:
            f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
