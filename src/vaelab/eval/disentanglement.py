"""Disentanglement metrics for codes with known generative factors.

MIG (Chen et al. 2018): for each factor v_k, the gap between the two largest mutual informations
I(z_j; v_k) over code dimensions j, normalised by H(v_k), averaged over factors (z discretised
into bins). beta-VAE metric (Higgins et al. 2017): fix one factor k in pairs of otherwise random
samples, average abs(z(v1) - z(v2)) over a batch of pairs, and predict k from that vector with a
linear classifier; the metric is its held-out accuracy. A linear classifier can undo a
rotation of the code, so the beta-VAE metric barely penalises entangled-by-rotation codes (Kim &
Mnih 2018); MIG does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vaelab.info import discrete


def discretize(codes: torch.Tensor, bins: int = 20) -> torch.Tensor:
    """Each code dimension into ``bins`` equal-width bins over its range, ``[N, d]`` ints."""
    lo, hi = codes.min(0).values, codes.max(0).values
    scaled = (codes - lo) / (hi - lo).clamp_min(1e-12)
    return (scaled * bins).long().clamp(0, bins - 1)


def mutual_information_matrix(codes: torch.Tensor, factors: torch.Tensor,
                              bins: int = 20) -> torch.Tensor:
    """I(z_j; v_k) in nats for every code dimension j and factor k, ``[d, F]``."""
    zb = discretize(codes, bins)
    d, F = zb.shape[1], factors.shape[1]
    out = torch.zeros(d, F, dtype=torch.float64)
    for k in range(F):
        nk = int(factors[:, k].max()) + 1
        for j in range(d):
            joint = torch.zeros(bins, nk, dtype=torch.float64)
            joint.index_put_((zb[:, j], factors[:, k].long()),
                             torch.ones(len(zb), dtype=torch.float64), accumulate=True)
            out[j, k] = discrete.mutual_information(joint / len(zb), base=np.e)
    return out


def mig(codes: torch.Tensor, factors: torch.Tensor, bins: int = 20) -> dict:
    """Mutual Information Gap in [0, 1] (1: each factor in exactly one dimension)."""
    mi = mutual_information_matrix(codes, factors, bins)
    per = []
    for k in range(factors.shape[1]):
        counts = torch.bincount(factors[:, k].long()).double()
        h = float(discrete.entropy(counts / counts.sum(), base=np.e))
        top = torch.topk(mi[:, k], 2).values
        per.append(float((top[0] - top[1]) / h) if h > 0 else 0.0)
    return {"mig": float(np.mean(per)), "per_factor": per, "mi_matrix": mi.tolist()}


def beta_vae_metric(encode: Callable[[np.ndarray], torch.Tensor], factor_sizes: tuple[int, ...],
                    n_train: int = 500, n_test: int = 300, batch: int = 64,
                    seed: int = 0) -> dict:
    """Held-out accuracy of a linear classifier predicting the fixed factor (chance 1/F).

    ``encode(factor_indices [N, F]) -> codes [N, d]`` renders the images and encodes them."""
    rng = np.random.default_rng(seed)
    F = len(factor_sizes)

    def point():
        k = rng.integers(F)
        v1 = np.stack([rng.integers(s, size=batch) for s in factor_sizes], 1)
        v2 = np.stack([rng.integers(s, size=batch) for s in factor_sizes], 1)
        v2[:, k] = v1[:, k]
        z1, z2 = encode(v1), encode(v2)
        return (z1 - z2).abs().mean(0), k

    feats, labels = zip(*(point() for _ in range(n_train + n_test)))
    X = torch.stack(feats).double()
    y = torch.tensor(labels)
    X = (X - X[:n_train].mean(0)) / X[:n_train].std(0).clamp_min(1e-8)
    g = torch.Generator().manual_seed(seed)
    clf = torch.nn.Linear(X.shape[1], F).double()
    with torch.no_grad():
        clf.weight.normal_(0, 0.01, generator=g)
    opt = torch.optim.LBFGS(clf.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(clf(X[:n_train]), y[:n_train]) + 1e-3 * (
            clf.weight ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        train_acc = float((clf(X[:n_train]).argmax(1) == y[:n_train]).double().mean())
        test_acc = float((clf(X[n_train:]).argmax(1) == y[n_train:]).double().mean())
    return {"accuracy": test_acc, "train_accuracy": train_acc, "chance": 1 / F}

