"""K = 5000 evaluation speed on the CPU, side by side in one process: ``evaluate_bounds`` as it
was before issue 17 (16,384 sample-example pairs per pass on the CPU, torch's Bernoulli
log-probability, which negates a full [K, B, 784] tensor), as it is today (activations per
pass kept under ``vaelab.memory.CPU_CHUNK_BYTES``; ``BernoulliImage`` sums before it
negates), the same with ``compile=True`` (compiled log-weights, the same draws; compiled before
the timing), and a plain PyTorch loop over the same modules (one example's K draws per pass).
Burda et al.'s 1- and 2-layer MLP VAEs on static MNIST test images; rounds alternate the
order, the table gives the median of ``--rounds``.

    VAELAB_DATA=../shared/data OMP_NUM_THREADS=1 python benchmarks/eval_speed_cpu.py \\
        --examples 40 --rounds 3

The numbers (L_5000) agree between the three within Monte Carlo error; only the wall time is
the point.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from common import machine
from torch.distributions import Bernoulli, Independent

from vaelab.data.registry import DataConfig, load_data
from vaelab.eval import evaluate_bounds, random_subset
from vaelab.models.likelihoods import Likelihood
from vaelab.models.vae import VAE, VAEConfig

OLD_CPU_CHUNK = 1 << 14


@contextmanager
def before_issue_17():
    """The Bernoulli likelihood as it was: torch's, under ``Independent``."""
    def dist(self, params, event_dims):
        if self.name != "bernoulli":
            return original(self, params, event_dims)
        logits = params.movedim(-event_dims - 1, -1)[..., 0]
        return Independent(Bernoulli(logits=logits, validate_args=False), event_dims,
                           validate_args=False)

    original = Likelihood.dist
    Likelihood.dist = dist
    try:
        yield
    finally:
        Likelihood.dist = original


def evaluate_before(model, x, k):
    with before_issue_17():
        return evaluate_bounds(model, x, [k], max_samples=OLD_CPU_CHUNK)


@torch.no_grad()
def plain_loop(model: VAE, x: torch.Tensor, K: int) -> float:
    """L_K of a 1-layer Bernoulli VAE written out by hand: mean over examples."""
    enc, dec = model.encoder[0].net, model.decoder[0]
    total = 0.0
    for xi in x.flatten(1):
        mu, raw = enc(xi).chunk(2, -1)
        std = F.softplus(raw) + 1e-4
        eps = torch.randn(K, mu.numel())
        z = mu + std * eps
        ll = -F.binary_cross_entropy_with_logits(dec(z), xi.expand(K, -1),
                                                 reduction="none").sum(-1)
        log_w = ll - 0.5 * (z ** 2).sum(-1) + 0.5 * (eps ** 2).sum(-1) + std.log().sum()
        total += float(torch.logsumexp(log_w, 0) - math.log(K))
    return total / len(x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=40)
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    data, _ = load_data(DataConfig(dataset="binarized_mnist"))
    x = random_subset(data.split("test"), args.examples, 0)
    print(f"{machine()}; {args.examples} test images, K = {args.k}")
    print("| model | evaluate_bounds before issue 17 | evaluate_bounds today | today, "
          "compile=True | plain loop | speed-up (before / today) | speed-up (before / "
          "compiled) |")
    print("|---|---|---|---|---|---|---|")
    for layers in (1, 2):
        torch.manual_seed(0)
        model = VAE(VAEConfig(layers=layers)).eval()
        model.init_from_data(data.train_mean())
        runs = {"old": lambda m=model: evaluate_before(m, x, args.k),
                "today": lambda m=model: evaluate_bounds(m, x, [args.k]),
                "compiled": lambda m=model: evaluate_bounds(m, x, [args.k], compile=True)}
        evaluate_bounds(model, x[:2], [args.k], compile=True)  # compile outside the timing
        if layers == 1:
            runs["plain"] = lambda m=model: plain_loop(m, x, args.k)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for r in range(args.rounds):
            for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                torch.manual_seed(r)
                t0 = time.perf_counter()
                runs[name]()
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        plain = f"{med['plain']:.2f} s" if "plain" in med else "—"
        print(f"| {layers} layer(s) | {med['old']:.2f} s | {med['today']:.2f} s | "
              f"{med['compiled']:.2f} s | {plain} | {med['old'] / med['today']:.2f}x | "
              f"{med['old'] / med['compiled']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
