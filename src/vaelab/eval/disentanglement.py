"""Disentanglement metrics for codes with known generative factors.

MIG (Chen et al. 2018): for each factor v_k, the gap between the two largest mutual informations
I(z_j; v_k) over code dimensions j, normalised by H(v_k), averaged over factors (z discretised
into bins). beta-VAE metric (Higgins et al. 2017): fix one factor k in pairs of otherwise random
samples, average abs(z(v1) - z(v2)) over a batch of pairs, and predict k from that vector with a
linear classifier; the metric is its held-out accuracy. A linear classifier can undo a rotation
of the code, so the beta-VAE metric barely penalises entangled-by-rotation codes (Kim & Mnih
2018); MIG does. FactorVAE metric (Kim & Mnih 2018): with one factor fixed, the code dimension
of least (normalised) variance votes for that factor; the metric is the held-out accuracy of
the majority-vote classifier (it too scores 0.99 on a randomly rotated code in the tests: the
least-variance dimension still votes consistently). DCI (Eastwood & Williams 2018): from the
importance of each code dimension for predicting each factor, disentanglement (each dimension
matters for one factor), completeness (each factor lives in one dimension) and
informativeness. SAP (Kumar et al. 2018): per factor, the gap between the two code dimensions
that predict it best alone. MIG, DCI and SAP all fall on a rotated code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from vaelab.errors import ConfigError
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



def _standardize(a: torch.Tensor) -> torch.Tensor:
    a = a.double()
    return (a - a.mean(0)) / a.std(0).clamp_min(1e-12)


def factor_vae_metric(encode: Callable[[np.ndarray], torch.Tensor],
                      factor_sizes: tuple[int, ...], n_train: int = 500, n_test: int = 300,
                      batch: int = 64, n_global: int = 2000, seed: int = 0) -> dict:
    """Kim & Mnih (2018): accuracy in [0, 1] of the majority vote (chance 1/F).

    Each code dimension is divided by its standard deviation over ``n_global`` random samples;
    dimensions whose deviation is below 1e-3 of the largest are dead and never vote. A point
    fixes a random factor k over ``batch`` samples and votes (argmin_j Var[z_j], k); each
    dimension predicts the factor it voted for most often on the training points."""
    rng = np.random.default_rng(seed)
    F = len(factor_sizes)

    def sample(n):
        return np.stack([rng.integers(s, size=n) for s in factor_sizes], 1)

    scale = encode(sample(n_global)).double().std(0)
    alive = scale > 1e-3 * scale.max()
    if not alive.any():
        return {"accuracy": 1 / F, "train_accuracy": 1 / F, "chance": 1 / F, "active": 0}
    votes = np.zeros((len(scale), F), dtype=np.int64)
    points = []
    for _ in range(n_train + n_test):
        k = rng.integers(F)
        v = sample(batch)
        v[:, k] = rng.integers(factor_sizes[k])
        var = (encode(v).double() / scale.clamp_min(1e-12)).var(0)
        var[~alive] = float("inf")
        points.append((int(var.argmin()), int(k)))
    for dim, factor in points[:n_train]:
        votes[dim, factor] += 1
    predict = votes.argmax(1)

    def accuracy(pts):
        return float(np.mean([predict[j] == k for j, k in pts]))

    return {"accuracy": accuracy(points[n_train:]), "train_accuracy": accuracy(points[:n_train]),
            "chance": 1 / F, "active": int(alive.sum())}


def _entropy_rows(p: torch.Tensor, base: int) -> torch.Tensor:
    """Entropy of each row of ``p`` (rows sum to 1), in units of log ``base``."""
    logp = torch.where(p > 0, p.log(), torch.zeros_like(p))
    return -(p * logp).sum(-1) / np.log(base)


def dci(codes: torch.Tensor, factors: torch.Tensor, ridge: float = 1e-3,
        train_fraction: float = 0.8, seed: int = 0) -> dict:
    """Eastwood & Williams (2018) with linear importances: for each factor a ridge regression on
    the standardised codes; R[j, k] = abs(weight of dimension j for factor k).

    disentanglement = sum_j rho_j (1 - H_F(R[j, :] / sum_k R[j, k])), rho_j = R[j].sum() / R.sum()
    completeness    = mean_k (1 - H_d(R[:, k] / sum_j R[j, k]))
    informativeness = mean held-out R^2 of the regressions (1: every factor predicted exactly)
    All three in [0, 1]. A dead dimension gets no weight and changes nothing."""
    z, v = _standardize(codes), _standardize(factors)
    z = torch.nan_to_num(z) * (codes.double().std(0) > 1e-12)  # dead dimensions: zeros
    n, d = z.shape
    F = v.shape[1]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    tr, te = perm[: int(train_fraction * n)], perm[int(train_fraction * n):]
    A = z[tr].T @ z[tr] + ridge * len(tr) * torch.eye(d, dtype=torch.float64)
    W = torch.linalg.solve(A, z[tr].T @ v[tr])  # [d, F]
    resid = v[te] - z[te] @ W
    r2 = 1 - resid.pow(2).mean(0) / v[te].var(0, unbiased=False).clamp_min(1e-12)
    R = W.abs()
    total = R.sum()
    if total <= 0:
        return {"disentanglement": 0.0, "completeness": 0.0,
                "informativeness": float(r2.clamp(0, 1).mean()), "importance": R.tolist()}
    rows = R.sum(1)
    p_rows = R / rows.clamp_min(1e-300)[:, None]
    disent = ((1 - _entropy_rows(p_rows, F)) * rows / total).sum() if F > 1 else torch.ones(())
    p_cols = (R / R.sum(0).clamp_min(1e-300)).T
    complete = (1 - _entropy_rows(p_cols, d)).mean() if d > 1 else torch.ones(())
    return {"disentanglement": float(disent), "completeness": float(complete),
            "informativeness": float(r2.clamp(0, 1).mean()), "importance": R.tolist()}


def sap(codes: torch.Tensor, factors: torch.Tensor) -> dict:
    """Kumar et al. (2018): S[j, k] = R^2 of predicting factor k from code dimension j alone (a
    linear regression: the squared correlation); SAP = mean_k (largest - second largest of
    S[:, k]), in [0, 1]. A dead dimension scores 0."""
    z, v = _standardize(codes), _standardize(factors)
    z = torch.nan_to_num(z) * (codes.double().std(0) > 1e-12)
    S = ((z.T @ v) / len(z)).pow(2)  # [d, F] squared correlations
    top = torch.topk(S, min(2, S.shape[0]), dim=0).values
    gap = top[0] - top[1] if len(top) > 1 else top[0]
    return {"sap": float(gap.mean()), "per_factor": gap.tolist(), "score_matrix": S.tolist()}


def disentanglement_report(model, data, points: int = 800, pairs: int = 64,
                           seed: int = 0) -> dict:
    """All five metrics for a model trained on a data set with known factors (``shapes`` or
    ``shapes_small``): MIG, DCI and SAP on the posterior means of the test split; the beta-VAE
    and FactorVAE metrics on ``points`` classifier points (60% train, 40% test) of ``pairs``
    images each, rendered with chosen factors. The code of an image is its posterior mean."""

    from vaelab.data import shapes as S

    if not data.name.startswith("shapes"):
        raise ConfigError("disentanglement metrics need known factors: train on --dataset "
                          "shapes or shapes_small")
    sizes = S.factor_sizes(data.name == "shapes_small")
    device = next(model.parameters()).device

    @torch.no_grad()
    def encode(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([model.posterior(x[i:i + 1000].to(device)).mean.cpu()
                          for i in range(0, len(x), 1000)]).double()

    codes, factors = encode(data.test), data.labels["test"]
    m = mig(codes, factors)
    d, sp = dci(codes, factors, seed=seed), sap(codes, factors)

    def encode_factors(v: np.ndarray) -> torch.Tensor:
        shape, scale, angle, px, py = S.factor_values(v, sizes)
        imgs = S.render(shape, scale, angle, px, py, size=model.x_shape[-1])
        return encode(torch.as_tensor(imgs[:, None], dtype=torch.float32))

    n_train = int(0.6 * points)
    b = beta_vae_metric(encode_factors, sizes, n_train, points - n_train, pairs, seed=seed)
    fv = factor_vae_metric(encode_factors, sizes, n_train, points - n_train, pairs, seed=seed)
    return {"mig": m["mig"], "mig_per_factor": dict(zip(S.FACTORS, m["per_factor"])),
            "beta_vae_metric": b["accuracy"], "factor_vae_metric": fv["accuracy"],
            "chance": b["chance"], "dci_disentanglement": d["disentanglement"],
            "dci_completeness": d["completeness"], "dci_informativeness": d["informativeness"],
            "sap": sp["sap"]}
