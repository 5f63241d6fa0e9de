"""Helpers for the tests: reference models with closed forms, and the score files of a
``vaelab reproduce`` folder kept without its checkpoints."""

from __future__ import annotations

import torch

from vaelab.models import LinearGaussianVAE


def linear_gaussian(D: int = 6, d: int = 3, seed: int = 0, exact_q: bool = False,
                    diagonal_posterior: bool = False, q_noise: float = 0.1) -> LinearGaussianVAE:
    """A random linear-Gaussian model; ``diagonal_posterior`` makes W's columns orthogonal and the
    noise isotropic so the exact posterior is diagonal; ``exact_q`` then sets q to it. Otherwise
    q starts at the posterior's mean and marginal std devs, perturbed by ``q_noise``."""
    g = torch.Generator().manual_seed(seed)
    m = LinearGaussianVAE(D, d)
    with torch.no_grad():
        W = torch.randn(D, d, generator=g)
        if diagonal_posterior or exact_q:
            W = torch.linalg.qr(W).Q * torch.tensor([2.0, 1.0, 0.5][:d] + [1.0] * max(0, d - 3))
            m.decoder.raw_std.fill_(0.3)
        else:
            m.decoder.raw_std.copy_(torch.randn(D, generator=g) * 0.3)
        m.decoder.linear.weight.copy_(W)
        m.decoder.linear.bias.copy_(torch.randn(D, generator=g))
        m.encoder.linear.weight.copy_(torch.randn(d, D, generator=g) * 0.3)
        m.encoder.linear.bias.copy_(torch.randn(d, generator=g) * 0.3)
        m.encoder.raw_std.copy_(torch.randn(d, generator=g) * 0.3)
    m.set_q_to_posterior_diagonal()
    if not exact_q:
        with torch.no_grad():
            for p in m.encoder.parameters():
                p.add_(q_noise * torch.randn(p.shape, generator=g))
    return m


def sample_data(m: LinearGaussianVAE, n: int, seed: int = 1) -> torch.Tensor:
    torch.manual_seed(seed)
    with torch.no_grad():
        return m.marginal().sample((n,))


def train_bounds(model, estimator, objective, x: torch.Tensor, steps: int,
                 lr: float) -> tuple[float, float]:
    """Adam on one fixed batch for ``steps`` steps: the mean bound at the first and last step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    bounds = []
    for _ in range(steps):
        out = estimator(model, x, objective)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        bounds.append(float(out.bound.mean()))
    return bounds[0], bounds[-1]


def keep_score_files(whole, kept, rows) -> None:
    """Copy what benchmarks/results/ keeps of a ``vaelab reproduce`` folder ``whole`` into
    ``kept``: its table.json and each row's config.json, metrics.jsonl and reproduce.json."""
    import shutil

    kept.mkdir()
    shutil.copy(whole / "table.json", kept)
    for row in rows:
        (kept / row).mkdir()
        for name in ("config.json", "metrics.jsonl", "reproduce.json"):
            shutil.copy(whole / row / name, kept / row)
