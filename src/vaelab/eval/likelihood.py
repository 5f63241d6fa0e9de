"""Importance-sampled log-likelihood and bounds, memory-bounded over data and samples.

log p(x) ~= L_K = log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q(z|x) (K = 5000 by convention).
One pass draws K_max samples; every requested L_k (k <= K_max) is estimated from the same
samples by averaging over disjoint groups of k (see ``grouped_iwae_bound``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from vaelab.models.base import Model
from vaelab.objectives.bounds import grouped_iwae_bound


def default_max_samples(device: torch.device) -> int:
    """Sample-by-example products per forward pass: bounds memory (~ x 4 bytes x data dim)."""
    return 1 << 18 if device.type == "cuda" else 1 << 14


@torch.no_grad()
def log_weights_matrix(model: Model, x: torch.Tensor, K: int,
                       max_samples: int | None = None) -> torch.Tensor:
    """``[K, B]`` log-weights, drawn in chunks of at most ``max_samples // B`` samples. A model
    whose posterior is deterministic (or absent) gives the same log-weight for every sample:
    it is computed once."""
    if model.capabilities.latent != "continuous":
        return model.log_weights(x, 1).expand(K, -1)
    max_samples = max_samples or default_max_samples(x.device)
    chunk = max(1, max_samples // len(x))
    parts = [model.log_weights(x, min(chunk, K - i)) for i in range(0, K, chunk)]
    return torch.cat(parts, 0)


@torch.no_grad()
def evaluate_bounds(model: Model, data: torch.Tensor, ks: Sequence[int] = (1, 5, 50, 5000),
                    batch_size: int | None = None, max_samples: int | None = None,
                    binarize: bool = False, generator: torch.Generator | None = None) -> dict:
    """Per-example L_k for every k in ``ks`` over ``data`` ``[N, D]``.

    Every L_k comes from the same K = max(ks) draws per example: the mean over floor(K/k)
    disjoint groups of k (``grouped_iwae_bound``). Samples are drawn in chunks of
    ``max_samples`` sample-example products, halved (with the batch when needed) on a GPU
    out-of-memory error. Returns ``{"bounds": {k: mean}, "stderr":
    {k: se}, "per_example": {k: [N]}}``; bounds are means over examples in nats. ``binarize``
    draws a Bernoulli sample of grey-level data first.
    """
    was_training = model.training
    model.eval()
    K = max(ks)
    device = next(model.parameters()).device
    # models whose samples are costly (a PixelCNN decoder) say how many fit in one pass
    max_samples = max_samples or min(model.eval_max_samples() or 1 << 62,
                                     default_max_samples(device))
    batch_size = batch_size or max(1, min(len(data), max_samples // min(K, 1 << 10)))
    per = {k: [] for k in ks}
    i = 0
    while i < len(data):
        x = data[i:i + batch_size].to(device)
        if binarize:
            x = torch.bernoulli(x, generator=generator)
        try:
            lw = log_weights_matrix(model, x, K, max_samples)
        except torch.OutOfMemoryError:
            # the budget counts sample-example products, but a product's memory depends on the
            # model (an MLP decoder vs a PixelCNN's feature maps): halve it and redo this batch
            max_samples //= 2
            if max_samples < 1:
                raise
            batch_size = min(batch_size, max_samples)
            torch.cuda.empty_cache()
            continue
        for k in ks:
            per[k].append(grouped_iwae_bound(lw, k).double().cpu())
        i += len(x)
    model.train(was_training)
    out: dict = {"bounds": {}, "stderr": {}, "per_example": {}}
    for k in ks:
        v = torch.cat(per[k])
        if not torch.isfinite(v).all():
            raise FloatingPointError(f"L_{k} is not finite for {int((~torch.isfinite(v)).sum())} "
                                     "examples: the model or checkpoint is broken")
        out["per_example"][k] = v
        out["bounds"][k] = float(v.mean())
        out["stderr"][k] = float(v.std() / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return out
