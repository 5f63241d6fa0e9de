"""Gradient SNR against K on a linear-Gaussian model (x = Wz + b + noise, z ~ N(0, I)),  where
q(z|x) is near the exact posterior: the setting of Rainforth et al. (2018). The plain
reparameterized IWAE gradient's encoder SNR falls with K and its decoder SNR rises; DReG's
encoder SNR does not fall. Both are asymptotic statements (K large against the spread of the
normalized weights); the model below is built so that they apply.

    python benchmarks/snr_linear_gaussian.py --k 1 10 100 1000 --repeats 1000

Prints a Markdown table: estimator, K, encoder SNR, decoder SNR (mean over parameters of
|E g| / std g, R repeats, one data point).
"""

from __future__ import annotations

import argparse

import torch

from vaelab.estimators import make_estimator
from vaelab.estimators.diagnostics import gradient_statistics
from vaelab.models.linear_gaussian import LinearGaussianVAE
from vaelab.objectives import make_objective


def model(D: int = 6, d: int = 3, widen: float = 1.2, shift: float = 0.3,
          seed: int = 0) -> LinearGaussianVAE:
    """A random decoder; q wider than p(z|x) in every direction and shifted (see
    ``LinearGaussianVAE.set_q_overdispersed``), so the weights are bounded."""
    g = torch.Generator().manual_seed(seed)
    m = LinearGaussianVAE(D, d)
    with torch.no_grad():
        m.decoder.linear.weight.copy_(torch.randn(D, d, generator=g))
        m.decoder.linear.bias.copy_(torch.randn(D, generator=g))
        m.decoder.raw_std.copy_(torch.randn(D, generator=g) * 0.3)
    m.set_q_overdispersed(widen, shift)
    return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, nargs="+", default=[1, 10, 100, 1000])
    ap.add_argument("--repeats", type=int, default=1000)
    args = ap.parse_args()
    torch.manual_seed(0)
    m = model()
    with torch.no_grad():
        x = m.marginal().sample((1,))
    print("| estimator | K | encoder SNR | decoder SNR |\n|---|---|---|---|")
    for name in ("reparam", "dreg"):
        for K in args.k:
            st = gradient_statistics(m, make_estimator(name, K), make_objective("iwae"), x,
                                     args.repeats)
            print(f"| {name} | {K} | {st['encoder'].snr:.3f} | {st['decoder'].snr:.3f} |")


if __name__ == "__main__":
    main()
