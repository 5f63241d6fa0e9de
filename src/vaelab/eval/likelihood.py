"""Importance-sampled log-likelihood and bounds, memory-bounded over data and samples.

log p(x) ~= L_K = log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q(z|x) (K = 5000 by convention).
One pass draws K_max samples per example; every requested L_k (k <= K_max) is estimated from the
same samples by averaging over disjoint groups of k (see ``grouped_iwae_bound``). The draws are
consumed chunk by chunk and the bounds accumulated as they arrive, so memory does not grow with K.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from vaelab.errors import ConfigError
from vaelab.memory import eval_chunk
from vaelab.models.base import Model
from vaelab.stats import delta_mc_stderr, ess_from_logsumexps, stderr

MAX_K = 10_000_000


def default_max_samples(device: torch.device) -> int:
    """Sample-by-example products per forward pass before the memory check (~ x 4 bytes x data
    dim per product for an MLP)."""
    return 1 << 18 if device.type == "cuda" else 1 << 14


class GroupedBounds:
    """``grouped_iwae_bound(log_w, k)`` for several k, from log-weights that arrive in chunks of
    draws: L_k is the mean, over the floor(K/k) disjoint groups of k consecutive draws, of
    log (1/k) sum_{group} w. Accumulated in float64; memory O(len(ks) x B)."""

    def __init__(self, ks: Sequence[int], K: int, batch: int, device: torch.device) -> None:
        self.ks, self.K = list(ks), K
        z = torch.zeros(batch, dtype=torch.float64, device=device)
        self.total = {k: z.clone() for k in self.ks}          # sum of completed group bounds
        self.groups = dict.fromkeys(self.ks, 0)
        self.partial = {k: z - math.inf for k in self.ks}      # logsumexp of the open group
        self.open = dict.fromkeys(self.ks, 0)                  # draws in the open group
        self.used = dict.fromkeys(self.ks, 0)                  # draws consumed for k
        self.lse1 = z - math.inf  # log sum_k w_k and log sum_k w_k^2 over all K draws:
        self.lse2 = z - math.inf  # the effective sample size, for the Monte Carlo error

    def add(self, log_w: torch.Tensor) -> None:
        """The next draws' log-weights ``[c, B]``."""
        lw = log_w.double()
        self.lse1 = torch.logaddexp(self.lse1, torch.logsumexp(lw, 0))
        self.lse2 = torch.logaddexp(self.lse2, torch.logsumexp(2 * lw, 0))
        for k in self.ks:
            limit = (self.K // k) * k  # the draws that form whole groups
            take = lw[: max(0, min(len(lw), limit - self.used[k]))]
            self.used[k] += len(take)
            if self.open[k] and len(take):
                head = take[: k - self.open[k]]
                self.partial[k] = torch.logaddexp(self.partial[k], torch.logsumexp(head, 0))
                self.open[k] += len(head)
                take = take[len(head):]
                if self.open[k] == k:
                    self._close(k, self.partial[k], 1)
            full = len(take) // k
            if full:
                groups = take[: full * k].reshape(full, k, -1)
                self._close(k, torch.logsumexp(groups, 1).sum(0), full)
            rest = take[full * k:]
            if len(rest):
                self.partial[k], self.open[k] = torch.logsumexp(rest, 0), len(rest)

    def _close(self, k: int, lse_sum: torch.Tensor, n: int) -> None:
        self.total[k] += lse_sum - n * math.log(k)
        self.groups[k] += n
        self.partial[k] = torch.full_like(self.partial[k], -math.inf)
        self.open[k] = 0

    def bounds(self) -> dict[int, torch.Tensor]:
        """Per-example L_k, ``[B]`` float64, for every k."""
        return {k: self.total[k] / self.groups[k] for k in self.ks}

    def mc_variance(self) -> torch.Tensor:
        """Per-example Monte Carlo variance of L_K (all K draws), by the delta method:
        Var(log mean w) ~ Var(w) / (K E[w]^2) = 1/ESS - 1/K, ESS = (sum w)^2 / sum w^2. An
        estimate from the draws themselves: too small when the weights are heavy-tailed."""
        return delta_mc_stderr(self.ess(), self.K) ** 2

    def ess(self) -> torch.Tensor:
        """Effective sample size of the K importance weights, (sum w)^2 / sum w^2, ``[B]``."""
        return ess_from_logsumexps(self.lse1, self.lse2)


def compiled_log_weights(model: Model, mode: str = "default"):
    """``model.log_weights`` compiled (one graph per chunk shape). Inductor is told to draw with
    torch's own generator (``fallback_random``), so the draws, and the bounds, are the eager
    evaluation's up to float rounding: compiling changes the speed, not the numbers."""
    import torch._dynamo
    import torch._inductor.config

    from vaelab.compiled import with_own_code

    fn = torch.compile(with_own_code(model.log_weights), mode=None if mode == "default" else mode,
                       dynamic=False)
    limit = max(64, torch._dynamo.config.recompile_limit)

    def log_weights(x: torch.Tensor, k: int) -> torch.Tensor:
        with torch._inductor.config.patch(fallback_random=True), \
                torch._dynamo.config.patch(recompile_limit=limit):
            return fn(x, k)
    return log_weights


@torch.no_grad()
def stream_bounds(model: Model, x: torch.Tensor, ks: Sequence[int], max_samples: int,
                  log_weights=None) -> dict[int | str, torch.Tensor]:
    """Per-example L_k (key k) for x ``[B, ...]`` from K = max(ks) draws, at most
    ``max_samples`` sample-example products per pass, the Monte Carlo variance of L_K (key
    ``"mc_var"``) and the effective sample size (key ``"ess"``).
    A deterministic (or absent) posterior gives the same log-weight for every draw: computed
    once, with no Monte Carlo error. ``log_weights``: the function to call in place of
    ``model.log_weights`` (its compiled form)."""
    K = max(ks)
    if model.capabilities.latent in ("point_mass", "none"):
        lw = model.log_weights(x, 1)[0].double()
        out: dict[int | str, torch.Tensor] = {k: lw for k in ks}
        return {**out, "mc_var": torch.zeros_like(lw), "ess": torch.full_like(lw, float(K))}
    acc = GroupedBounds(ks, K, len(x), x.device)
    chunk = max(1, max_samples // len(x))
    log_weights = log_weights or model.log_weights
    for start in range(0, K, chunk):
        acc.add(log_weights(x, min(chunk, K - start)))
    bounds: dict[int | str, torch.Tensor] = {k: v for k, v in acc.bounds().items()}
    return {**bounds, "mc_var": acc.mc_variance(), "ess": acc.ess()}


@torch.no_grad()
def evaluate_bounds(model: Model, data: torch.Tensor, ks: Sequence[int] = (1, 5, 50, 5000),
                    batch_size: int | None = None, max_samples: int | None = None,
                    binarize: bool = False, generator: torch.Generator | None = None,
                    progress: bool = False, compile: bool | str = False) -> dict:
    """Per-example L_k for every k in ``ks`` over ``data`` ``[N, ...]``.

    Every L_k comes from the same K = max(ks) draws per example: the mean over floor(K/k)
    disjoint groups of k (``grouped_iwae_bound``). Two errors: ``stderr`` is the standard
    error over examples (how the mean would move with other test images), ``mc_stderr`` the
    Monte Carlo error of the mean L_K over these examples (how it would move with other draws,
    by the delta method: reliable when the effective sample size ``mean_ess`` is large, low by
    a quarter or more when the weights are heavy-tailed). Samples are drawn in chunks of
    ``max_samples`` sample-example products (default: what the device's free memory holds, by
    a measured per-pair cost), halved (with the batch when needed) on a GPU out-of-memory
    error. Returns ``{"bounds": {k: mean}, "stderr": {k: se}, "per_example": {k: [N]},
    "per_example_mc_var": [N]}`` (the delta method's variance of each example's L_K);
    bounds are means over examples in nats, ``stderr`` the standard error over examples.
    ``binarize`` draws a Bernoulli sample of grey-level data first. ``compile`` runs the
    log-weights compiled (``compiled_log_weights``: the same draws and numbers, faster after a
    few seconds of compilation; on one CPU thread 1.2x for Burda's MLPs, BENCHMARKS.md
    section 10).
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ConfigError("every K must be >= 1")
    if ks[-1] > MAX_K:
        raise ConfigError(f"K = {ks[-1]} draws per example is more than vaelab evaluates "
                          f"({MAX_K}); K = 5000 is the convention for log-likelihoods")
    if len(data) == 0:
        raise ConfigError("no examples to evaluate")
    was_training = model.training
    model.eval()
    K = ks[-1]
    device = next(model.parameters()).device
    if max_samples is None:
        max_samples = eval_chunk(model, data[:1].to(device), device, default_max_samples(device))
    batch_size = batch_size or max(1, min(len(data), max_samples // min(K, 1 << 10)))
    log_weights = (compiled_log_weights(model, "default" if compile is True else compile)
                   if compile else None)
    per: dict = {k: [] for k in [*ks, "mc_var", "ess"]}
    bar = tqdm(total=len(data), desc=f"L_{K}", unit="example", mininterval=1,
               disable=None if progress else True)  # None: only on a terminal
    i = 0
    while i < len(data):
        x = data[i:i + batch_size].to(device)
        if binarize:
            x = torch.bernoulli(x, generator=generator)
        try:
            res = stream_bounds(model, x, ks, max_samples, log_weights)
        except torch.OutOfMemoryError:
            # the budget counts sample-example products, but a product's memory depends on the
            # model (an MLP decoder vs a PixelCNN's feature maps): halve it and redo this batch
            max_samples //= 2
            if max_samples < 1:
                raise
            batch_size = min(batch_size, max_samples)
            torch.cuda.empty_cache()
            continue
        for k in per:
            per[k].append(res[k].cpu())
        i += len(x)
        bar.update(len(x))
    bar.close()
    model.train(was_training)
    mc_var = torch.cat(per["mc_var"])
    out: dict = {"bounds": {}, "stderr": {}, "per_example": {}, "per_example_mc_var": mc_var,
                 "mc_stderr": float(mc_var.sum().sqrt() / len(mc_var)), "mc_k": K,
                 "mean_ess": float(torch.cat(per["ess"]).mean())}
    for k in ks:
        v = torch.cat(per[k])
        if not torch.isfinite(v).all():
            raise FloatingPointError(f"L_{k} is not finite for {int((~torch.isfinite(v)).sum())} "
                                     "examples: the model or checkpoint is broken")
        out["per_example"][k] = v
        out["bounds"][k] = float(v.mean())
        out["stderr"][k] = stderr(v)
    return out
