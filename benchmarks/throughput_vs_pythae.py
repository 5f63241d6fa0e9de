"""Side-by-side speed of vaelab, a plain PyTorch loop and Pythae's IWAE in one process, same
machine, same architecture (Burda et al. 1 layer: 784-200-200-50, tanh), same data and batch.

    pip install pythae   # into the same environment as vaelab (optional: left out if absent)
    python benchmarks/throughput_vs_pythae.py --steps 50 --eval-n 200 [--device cuda] \
        [--compile reduce-overhead] [--stack 8] \
        [--dataset binarized_mnist --eval-n 10000 --pythae-eval-n 200]

Training examples/second for IWAE k=50 at batch 100 (the model step and the optimizer only, data
already in memory) for: vaelab eager (``Step`` + fused Adam, `vaelab train`), vaelab compiled
(``WholeStep``: forward, backward and Adam as one graph, `vaelab train --compile MODE`), vaelab
stacked (``StackedRuns`` of --stack runs, compiled the same way, `vaelab train-stack`; its rate
counts the examples of all runs), the plain loop (the same model written out by hand) and
Pythae. Then the wall time of the K=5000 log-likelihood estimate on --eval-n test images
(Pythae's on --pythae-eval-n, default the same: its estimate loops over images one at a time;
the ratio is per image), vaelab's eager and with compiled log-weights. Warm-up steps and
evaluations, which include compilation and CUDA-graph recording, are not timed. Prints one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import machine, time_steps
from torch import nn
from train_speed_cpu import plain_step

from vaelab.data import load_dataset
from vaelab.estimators import make_estimator
from vaelab.eval import evaluate_bounds
from vaelab.models import VAE, VAEConfig
from vaelab.objectives import make_objective
from vaelab.training.loop import EagerUpdate, Step
from vaelab.training.stacked import StackedRuns
from vaelab.training.whole_step import WholeStep


def pythae_iwae(k: int, device):
    from pythae.models import IWAE, IWAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Enc(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200),
                                     nn.Tanh(), nn.Linear(200, 100))

        def forward(self, x):
            mu, logvar = self.net(x.reshape(len(x), -1)).chunk(2, -1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Dec(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200),
                                     nn.Tanh(), nn.Linear(200, 784))

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).reshape(-1, 1, 28, 28))

    cfg = IWAEConfig(input_dim=(1, 28, 28), latent_dim=50, number_samples=k,
                     reconstruction_loss="bce")
    return IWAE(cfg, encoder=Enc(), decoder=Dec()).to(device)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--pythae-eval-n", type=int, default=0, help="0: same as --eval-n")
    ap.add_argument("--eval-k", type=int, default=5000)
    ap.add_argument("--dataset", default="embedded", help="test images for the evaluation")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", default="", help="torch.compile mode of vaelab's compiled "
                    "and stacked steps (default: reduce-overhead on a GPU, default on the CPU)")
    ap.add_argument("--stack", type=int, default=8, help="runs in the stacked contender")
    args = ap.parse_args()
    dev = torch.device(args.device)
    data = load_dataset(args.dataset)
    x = data.train[: args.batch].to(dev)
    test = data.test[: args.eval_n].to(dev)
    test_theirs = test[: args.pythae_eval_n or args.eval_n]
    mode = args.compile or ("reduce-overhead" if dev.type == "cuda" else "default")

    def build(seed: int = 0) -> Step:
        torch.manual_seed(seed)
        return Step(VAE(VAEConfig()), make_estimator("reparam", args.k),
                    make_objective("iwae")).to(dev)

    ours = build()
    eager = EagerUpdate(ours, torch.optim.Adam(ours.parameters(), 1e-3, fused=True))
    comp = build()
    whole = WholeStep(comp, torch.optim.Adam(comp.parameters(), 1e-3, capturable=True), mode)
    stacked = StackedRuns([build(i) for i in range(args.stack)], [1e-3] * args.stack,
                          compile=mode)
    plain = build().model
    popt = torch.optim.Adam(plain.parameters(), 1e-3)
    contenders = {"vaelab eager": lambda: eager(x), f"vaelab compiled ({mode})": lambda: whole(x),
                  f"vaelab stacked x{args.stack} ({mode}), all runs": lambda: stacked.step(x),
                  "plain loop": lambda: plain_step(plain, popt, x, args.k)}
    try:
        theirs = pythae_iwae(args.k, dev)
        opt2 = torch.optim.Adam(theirs.parameters(), 1e-3)
        batch = {"data": x.view(-1, 1, 28, 28)}

        def theirs_step():
            loss = theirs(batch).loss
            opt2.zero_grad(set_to_none=True)
            loss.backward()
            opt2.step()

        contenders["pythae"] = theirs_step
    except ImportError:
        theirs = None
    # warm-up: compilation and CUDA-graph recording happen in the untimed steps
    n = args.steps * args.batch
    rate = {}
    for name, step in contenders.items():
        t = time_steps(step, args.steps, dev, warmup=10)
        rate[name] = n * (args.stack if "stacked" in name else 1) / t
    ours = ours.model

    sync = torch.cuda.synchronize if dev.type == "cuda" else lambda: None
    e_ours = {}
    for compiled in (False, True):
        # CUDA context, kernels and the compilation of every chunk shape: untimed
        evaluate_bounds(ours, test, ks=(args.eval_k,), compile=compiled)
        sync()
        t0 = time.perf_counter()
        nll = -evaluate_bounds(ours, test, ks=(args.eval_k,), compile=compiled)["bounds"][
            args.eval_k]
        sync()
        e_ours["compiled" if compiled else "eager"] = time.perf_counter() - t0
    e_theirs = None
    if theirs is not None:
        t0 = time.perf_counter()
        theirs.get_nll(test_theirs.view(-1, 1, 28, 28), n_samples=args.eval_k, batch_size=100)
        sync()
        e_theirs = time.perf_counter() - t0
    base = rate.get("pythae") or rate["plain loop"]
    print(json.dumps({
        "machine": machine(dev), "k": args.k, "batch": args.batch, "steps": args.steps,
        "train_examples_per_s": rate,
        "train_ratio_to": "pythae" if "pythae" in rate else "plain loop (pythae not installed)",
        "train_ratio": {k: v / base for k, v in rate.items()},
        "eval_seconds": {"vaelab": e_ours["eager"], "vaelab_compiled": e_ours["compiled"],
                         "pythae": e_theirs, "K": args.eval_k, "n_vaelab": len(test),
                         "n_pythae": len(test_theirs)},
        "vaelab_nll_untrained": nll,
        "eval_speedup_per_image": (e_theirs / len(test_theirs)) /
        (min(e_ours.values()) / len(test)) if e_theirs else None}))


if __name__ == "__main__":
    main()
