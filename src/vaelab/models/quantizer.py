"""Vector quantization (van den Oord et al. 2017): nearest-neighbour codes, straight-through
gradient, codebook and commitment losses, EMA codebook updates, dead-code restarts, a k-means
start on the first batch, and codebook health (perplexity, dead codes) over whole epochs.

Under torch.distributed the EMA statistics are all-reduced and restarts are broadcast from rank 0,
so the codebook stays identical on every rank. The quantizer always runs in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Quantized:
    """z_q: straight-through quantized vectors ``[B, D, H, W]``; indices ``[B, H, W]``;
    commitment and codebook: per-example losses ``[B]`` (sum of squared errors)."""

    z_q: torch.Tensor
    indices: torch.Tensor
    commitment: torch.Tensor
    codebook: torch.Tensor


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class VectorQuantizer(nn.Module):

    # buffers and parameters, typed for the checker (nn.Module's __getattr__ is untyped)
    embed: torch.Tensor
    cluster_size: torch.Tensor
    embed_sum: torch.Tensor
    usage: torch.Tensor
    initialized: torch.Tensor
    perplexity: torch.Tensor
    epoch_counts: torch.Tensor
    def __init__(self, num_codes: int = 128, dim: int = 32, ema: bool = False,
                 decay: float = 0.99, eps: float = 1e-5, restart_threshold: float = 0.03) -> None:
        super().__init__()
        self.num_codes, self.dim, self.ema, self.decay, self.eps = num_codes, dim, ema, decay, eps
        self.restart_threshold = restart_threshold  # restart codes used less than this per batch
        init = torch.randn(num_codes, dim) / dim ** 0.5
        if ema:
            self.register_buffer("embed", init)
            self.register_buffer("cluster_size", torch.ones(num_codes))
            self.register_buffer("embed_sum", init.clone())
        else:
            self.embed = nn.Parameter(init)
        self.register_buffer("usage", torch.ones(num_codes))  # EMA of per-batch code counts
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("perplexity", torch.zeros(()))  # of the last batch
        # code counts since the last ``epoch_usage()``: the epoch's usage, whatever the batch size
        self.register_buffer("epoch_counts", torch.zeros(num_codes), persistent=False)

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of ``flat`` ``[N, D]`` (squared L2)."""
        e = self.embed.float()
        d = (flat ** 2).sum(1, keepdim=True) - 2 * flat @ e.T + (e ** 2).sum(1)[None]
        return d.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes for ``indices`` ``[B, H, W]`` as ``[B, D, H, W]``."""
        return self.embed[indices].permute(0, 3, 1, 2)

    def forward(self, z_e: torch.Tensor) -> Quantized:
        B, D, H, W = z_e.shape
        with torch.autocast(z_e.device.type, enabled=False):
            flat = z_e.float().permute(0, 2, 3, 1).reshape(-1, D)
            if self.training and not bool(self.initialized):
                self._init_from(flat.detach())
            idx = self.nearest(flat)
            onehot = nn.functional.one_hot(idx, self.num_codes).float()
            counts = onehot.sum(0)
            if self.training:
                sums = onehot.T @ flat.detach() if self.ema else None
                if _distributed():
                    dist.all_reduce(counts)
                    if sums is not None:
                        dist.all_reduce(sums)
                self._update(counts, sums, flat.detach())
                self.epoch_counts.add_(counts)
            p = counts / counts.sum()
            self.perplexity.copy_(torch.exp(-(p * torch.log(p + 1e-10)).sum()))
            q = self.embed.float()[idx]
            commit = ((flat - q.detach()) ** 2).reshape(B, -1).sum(1)
            book = ((q - flat.detach()) ** 2).reshape(B, -1).sum(1) if not self.ema else \
                torch.zeros(B, device=z_e.device)
            z_q = flat + (q - flat).detach()  # straight-through: forward q, backward identity
        z_q = z_q.view(B, H, W, D).permute(0, 3, 1, 2).to(z_e.dtype)
        return Quantized(z_q, idx.view(B, H, W), commit, book)

    @torch.no_grad()
    def _update(self, counts: torch.Tensor, sums: torch.Tensor | None, flat: torch.Tensor) -> None:
        self.usage.mul_(0.9).add_(0.1 * counts)  # fast: dead codes are found within ~30 steps
        if self.ema:
            assert sums is not None  # the EMA path always computes them
            self.cluster_size.mul_(self.decay).add_((1 - self.decay) * counts)
            self.embed_sum.mul_(self.decay).add_((1 - self.decay) * sums)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (n + self.num_codes * self.eps) * n
            self.embed.copy_(self.embed_sum / smoothed[:, None])
        self.restart_dead(flat)

    @torch.no_grad()
    def epoch_usage(self, reset: bool = True) -> dict:
        """Codebook health over every training vector since the last call: perplexity
        exp(H(code frequencies)) (at most ``num_codes``; unlike a batch's, it does not depend on
        the batch size) and the number of codes never chosen."""
        n = self.epoch_counts.sum()
        p = self.epoch_counts / n.clamp_min(1)
        h = -(p * torch.log(p.clamp_min(1e-30))).sum()
        out = {"perplexity": float(h.exp()) if n > 0 else float("nan"),
               "dead_codes": int((self.epoch_counts == 0).sum()) if n > 0 else 0}
        if reset:
            self.epoch_counts.zero_()
        return out

    @torch.no_grad()
    def _init_from(self, flat: torch.Tensor, iterations: int = 10) -> None:
        """Data-dependent start: k-means on the encoder outputs of the first batch (rank 0's,
        broadcast): k-means++ seeding (each new code drawn with probability proportional to the
        squared distance to the nearest code so far), then ``iterations`` Lloyd steps; a code
        left with no vector keeps its seed. Every code starts on the data, sharing it out."""
        new = flat[torch.randint(len(flat), (1,), device=flat.device)]
        d2 = ((flat - new) ** 2).sum(1)
        for _ in range(self.num_codes - 1):
            i = (torch.multinomial(d2 / d2.sum(), 1) if d2.sum() > 0 else
                 torch.randint(len(flat), (1,), device=flat.device))
            new = torch.cat([new, flat[i]])
            d2 = torch.minimum(d2, ((flat - flat[i]) ** 2).sum(1))
        for _ in range(iterations):
            d = (flat ** 2).sum(1, keepdim=True) - 2 * flat @ new.T + (new ** 2).sum(1)[None]
            onehot = nn.functional.one_hot(d.argmin(1), self.num_codes).to(flat.dtype)
            size = onehot.sum(0)
            means = (onehot.T @ flat) / size.clamp_min(1)[:, None]
            new = torch.where(size[:, None] > 0, means, new)
        new = new + 1e-3 * torch.randn(self.num_codes, self.dim, device=flat.device)
        if _distributed():
            dist.broadcast(new, 0)
        self.embed.data.copy_(new.to(self.embed.dtype))
        if self.ema:
            self.embed_sum.copy_(new)
            self.cluster_size.fill_(1.0)
        self.usage.fill_(2 * self.restart_threshold)  # a few steps' grace, then restarts apply
        self.initialized.fill_(True)

    @torch.no_grad()
    def restart_dead(self, flat: torch.Tensor) -> int:
        """Move codes whose usage fell below ``restart_threshold`` onto random encoder outputs
        of this batch (chosen on rank 0 and broadcast). Returns how many were restarted."""
        dead = self.usage < self.restart_threshold
        n = int(dead.sum())  # identical on every rank: usage is built from all-reduced counts
        if n == 0:
            return 0
        pick = torch.randint(len(flat), (n,), device=flat.device)
        new = flat[pick] + 1e-3 * torch.randn(n, self.dim, device=flat.device)
        if _distributed():
            dist.broadcast(new, 0)
        self.embed.data[dead] = new.to(self.embed.dtype)
        self.usage[dead] = 2 * self.restart_threshold
        if self.ema:
            self.embed_sum[dead] = new
            self.cluster_size[dead] = 1.0
        return n
