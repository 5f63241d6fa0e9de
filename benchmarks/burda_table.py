"""Burda et al.'s static-MNIST table in one process: VAE and IWAE at k = 1, 5, 50 with one and
two stochastic layers (the ten distinct configurations of their Table 1), trained together as a
grid of stacks (`vaelab train-stack`: each configuration one stack, one compiled graph per step
on a GPU), then the test NLL with K = 5000 on all 10,000 test images, the active units, and the
paper's number beside each.

    python benchmarks/burda_table.py --out runs/burda --time-limit 8 --compile reduce-overhead

Made for 10-minute GPU commands: each call trains for --time-limit minutes (every epoch is
checkpointed) and the same command continues; once every run has finished, the call evaluates
them and prints the table (results in OUT/table.jsonl). ``--schedule burda`` (the default) is
Burda's 3280 passes; ``--schedule cosine --epochs N`` is a shorter schedule to compare with it.
The NLL's error is the standard error over the 10,000 test images (the Monte Carlo error of the
K = 5000 estimate is printed by `vaelab eval --repeats 5 RUN` and is about 0.02 nats).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import machine
from report import print_paper_table

import vaelab
from vaelab.eval import evaluate
from vaelab.training import RunConfig, train_stack

CONFIGS = [(objective, k, layers) for layers in (1, 2)
           for objective, k in (("elbo", 1), ("elbo", 5), ("iwae", 5), ("elbo", 50),
                                ("iwae", 50))]


def paper_name(objective: str, k: int, layers: int) -> str:
    return f"{'vae' if objective == 'elbo' else 'iwae'}-k{k}-l{layers}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/burda")
    ap.add_argument("--schedule", default="burda")
    ap.add_argument("--epochs", type=int, default=0, help="with --schedule cosine/constant")
    ap.add_argument("--compile", default="")
    ap.add_argument("--time-limit", type=float, default=0.0, help="minutes of training a call")
    ap.add_argument("--dataset", default="binarized_mnist")
    ap.add_argument("--eval-k", type=int, default=5000)
    ap.add_argument("--eval-n", type=int, default=0, help="test images (0: all)")
    args = ap.parse_args()
    out = Path(args.out)
    points = [{"objective": o, "k": k, "layers": n} for o, k, n in CONFIGS]
    if (out / "stack.json").is_file():
        recs = train_stack(None, out, resume=True, progress=False,
                           changes={"time_limit": args.time_limit, "compile": args.compile})
    else:
        cfg = RunConfig.from_options({"dataset": args.dataset, "schedule": args.schedule,
                                      "epochs": args.epochs, "compile": args.compile,
                                      "time_limit": args.time_limit, "eval_every": 10})
        recs = train_stack(cfg, out, points, progress=False)
    if any(r.get("stopped") == "time_limit" for r in recs.values()):
        epoch = next(iter(recs.values()))["epoch"]
        print(f"trained to epoch {epoch}; rerun the same command to continue")
        return
    rows = []
    for p, (name, rec) in zip(points, recs.items()):
        run = vaelab.load_run(out / name)
        x = run.data.test if not args.eval_n else run.data.test[: args.eval_n]
        ev = evaluate(run.model, x.to(run.device), (args.eval_k,), seed=0)
        rows.append({"config": paper_name(**p), "run": name, "epochs": rec["epoch"],
                     "nll": ev["nll"], "nll_stderr": ev["nll_stderr"],
                     "nll_mc_stderr": ev["nll_mc_stderr"], "eval_seconds": ev["seconds"],
                     "active_units": ev["active_units_per_layer"], "eval_n": len(x),
                     "machine": machine(run.device)})
    with open(out / "table.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"{rows[0]['machine']}; {rows[0]['eval_n']} test images, K = {args.eval_k}")
    print_paper_table(rows)

if __name__ == "__main__":
    main()
