"""CPU training speed, side by side in one process: vaelab's training step (``Step`` +
``engine.run_epoch``, the code `vaelab train` runs) against a plain PyTorch loop of the same
model (Burda et al.'s 1-layer MLP VAE, IWAE with K draws, batch 100, Adam), on the same batches.
Rounds alternate the order; the table gives the median examples per second of ``--rounds``.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/train_speed_cpu.py \\
        --k 5 --steps 100 --rounds 3

vaelab's eager step runs with fused Adam (what `vaelab train` uses) and with torch's default
(foreach) Adam; "compiled whole step" is ``vaelab train --compile default``: forward, backward
and Adam as one graph (``vaelab.training.whole_step``; compiled in the warm-up round). The plain
loop always uses torch's default Adam.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F
from common import machine

from vaelab.data.registry import DataConfig, load_data
from vaelab.estimators import make_estimator
from vaelab.models.vae import VAE, VAEConfig
from vaelab.objectives import make_objective
from vaelab.training.engine import run_epoch
from vaelab.training.loop import EagerUpdate, Step
from vaelab.training.whole_step import WholeStep


def plain_step(model: VAE, opt: torch.optim.Optimizer, x: torch.Tensor, k: int) -> None:
    """IWAE written out by hand on the same modules."""
    enc, dec = model.encoder[0].net, model.decoder[0]
    xf = x.flatten(1)
    mu, raw = enc(xf).chunk(2, -1)
    std = F.softplus(raw) + 1e-4
    eps = torch.randn(k, *mu.shape, device=mu.device)
    z = mu + std * eps
    ll = -F.binary_cross_entropy_with_logits(dec(z), xf.expand(k, -1, -1),
                                             reduction="none").sum(-1)
    log_w = ll - 0.5 * (z ** 2).sum(-1) + 0.5 * (eps ** 2).sum(-1) + std.log().sum(-1)
    loss = -(torch.logsumexp(log_w, 0) - math.log(k)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    data, _ = load_data(DataConfig(dataset="binarized_mnist"))
    x_all = data.split("train")[: args.steps * args.batch]
    batches = list(x_all.split(args.batch))
    models = {}
    names = ("vaelab (fused Adam)", "vaelab (foreach Adam)", "vaelab (compiled whole step)",
             "plain loop")
    for name in names:
        torch.manual_seed(0)
        m = VAE(VAEConfig())
        m.init_from_data(data.train_mean())
        opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-4,
                               fused=True if "fused" in name else None,
                               capturable="compiled" in name)
        models[name] = (m, opt)
    est, obj = make_estimator("reparam", args.k, 784), make_objective("iwae")
    m, opt = models["vaelab (compiled whole step)"]
    whole = WholeStep(Step(m, est, obj), opt)

    def vaelab_run(name):
        m, opt = models[name]
        run_epoch([EagerUpdate(Step(m, est, obj), opt)], batches, torch.device("cpu"))

    def plain_run():
        m, opt = models["plain loop"]
        for x in batches:
            plain_step(m, opt, x, args.k)

    runs = {"vaelab (fused Adam)": lambda: vaelab_run("vaelab (fused Adam)"),
            "vaelab (foreach Adam)": lambda: vaelab_run("vaelab (foreach Adam)"),
            "vaelab (compiled whole step)": lambda: run_epoch([whole], batches,
                                                              torch.device("cpu")),
            "plain loop": plain_run}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds + 1):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            t0 = time.perf_counter()
            runs[name]()
            if r:  # round 0 warms up
                times[name].append(time.perf_counter() - t0)
    n = args.steps * args.batch
    rate = {k: n / statistics.median(v) for k, v in times.items()}
    print(f"{machine()}; IWAE K = {args.k}, batch {args.batch}, {args.steps} steps per round")
    print("| loop | examples/s | vs plain loop |")
    print("|---|---|---|")
    for k, v in rate.items():
        print(f"| {k} | {v:.0f} | {v / rate['plain loop']:.2f}x |")


if __name__ == "__main__":
    main()
