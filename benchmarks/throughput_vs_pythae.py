"""Side-by-side speed of vaelab and Pythae's IWAE in one process, same machine, same
architecture (Burda et al. 1 layer: 784-200-200-50, tanh), same data and batch size.

    pip install pythae   # into the same environment as vaelab
    python benchmarks/throughput_vs_pythae.py --steps 50 --eval-n 200 [--device cuda] \
        [--compile reduce-overhead] [--dataset binarized_mnist --eval-n 10000 --pythae-eval-n 200]

Measures training examples/second for IWAE k=50 at batch 100 (plain loops: the model step and
the optimizer only, data already in memory), and the wall time of the K=5000 log-likelihood
estimate on --eval-n test images (Pythae's on --pythae-eval-n, default the same: its estimate
loops over images one at a time; the ratio is per image). Prints one JSON object with the
ratios. ``--compile`` runs vaelab's step through torch.compile (as `vaelab train --compile`
does); warm-up steps, which include the compilation, are not timed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import machine, time_steps
from torch import nn

from vaelab.data import load_dataset
from vaelab.estimators import make_estimator
from vaelab.eval import evaluate_bounds
from vaelab.models import VAE, VAEConfig
from vaelab.objectives import make_objective
from vaelab.training.loop import Step


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
    ap.add_argument("--compile", default="", help="torch.compile mode for vaelab's step")
    args = ap.parse_args()
    dev = torch.device(args.device)
    data = load_dataset(args.dataset)
    x = data.train[: args.batch].to(dev)
    test = data.test[: args.eval_n].to(dev)
    test_theirs = test[: args.pythae_eval_n or args.eval_n]
    torch.manual_seed(0)

    ours = VAE(VAEConfig()).to(dev)
    objective = Step(ours, make_estimator("reparam", args.k), make_objective("iwae"))
    if args.compile:
        objective = torch.compile(objective, mode=args.compile)
    opt = torch.optim.Adam(ours.parameters(), 1e-3, fused=dev.type == "cuda")  # as in training

    def ours_step():
        loss, _ = objective(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    theirs = pythae_iwae(args.k, dev)
    opt2 = torch.optim.Adam(theirs.parameters(), 1e-3)
    batch = {"data": x.view(-1, 1, 28, 28)}

    def theirs_step():
        loss = theirs(batch).loss
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        opt2.step()

    # warm-up: compilation and CUDA-graph recording happen in the untimed steps
    t_ours = time_steps(ours_step, args.steps, dev, warmup=10)
    t_theirs = time_steps(theirs_step, args.steps, dev, warmup=10)
    n = args.steps * args.batch

    evaluate_bounds(ours, test[:10], ks=(args.eval_k,))  # CUDA context and kernels: untimed
    sync = torch.cuda.synchronize if dev.type == "cuda" else lambda: None
    sync()
    t0 = time.perf_counter()
    nll = -evaluate_bounds(ours, test, ks=(args.eval_k,))["bounds"][args.eval_k]
    sync()
    e_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs.get_nll(test_theirs.view(-1, 1, 28, 28), n_samples=args.eval_k, batch_size=100)
    sync()
    e_theirs = time.perf_counter() - t0

    print(json.dumps({
        "machine": machine(dev), "compile": args.compile or "eager", "k": args.k,
        "batch": args.batch, "steps": args.steps,
        "train_examples_per_s": {"vaelab": n / t_ours, "pythae": n / t_theirs},
        "train_speedup": t_theirs / t_ours,
        "eval_seconds": {"vaelab": e_ours, "pythae": e_theirs, "K": args.eval_k,
                         "n_vaelab": len(test), "n_pythae": len(test_theirs)},
        "vaelab_nll_untrained": nll,
        "eval_speedup_per_image": (e_theirs / len(test_theirs)) / (e_ours / len(test))}))


if __name__ == "__main__":
    main()
