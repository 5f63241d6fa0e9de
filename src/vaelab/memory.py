"""Memory: what a model needs per (sample, example) pair, what a device has, and a guard that
refuses a training step or an evaluation chunk that cannot fit, before anything runs.

The need is measured, not guessed: log-weight computations with two samples of one example and
of that example twice, with autograd's saved-tensor hooks counting every activation kept for
the backward pass (each storage once, parameters excluded). The second example's cost is the
memory of a training step per pair; what the first pass has beyond it is paid once per pass
(``activation_bytes``). An evaluation pass (no gradients) keeps less, so the same figures bound
it.
"""

from __future__ import annotations

import math
import os

import torch

from vaelab.errors import ConfigError
from vaelab.models.base import Model


def _saved_bytes(model: Model, x: torch.Tensor, samples: int) -> tuple[int, torch.Tensor]:
    """Bytes of the activations one pass of ``samples`` draws for each example of ``x`` keeps
    for backward (each tensor once, parameters not counted), and its log-weights."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        if t.untyped_storage().data_ptr() not in params:  # each saved tensor once, by its bytes
            seen[(t.data_ptr(), tuple(t.shape))] = t.numel() * t.element_size()
        return t

    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.enable_grad(), \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        lw = model.log_weights(x, samples)
    return sum(seen.values()), lw


def activation_bytes(model: Model, x: torch.Tensor) -> tuple[int, int]:
    """Activation bytes ``(per (sample, example) pair, once per pass)``, measured with two
    samples of one example (``x[:1]``) and of that example twice: the second example's cost is
    two pairs' (its encoding counted half to each, as always), and what the first pass has
    beyond it is paid once whatever the pass's size (a VampPrior's encoding of its 500
    pseudo-inputs), not once per pair (counted per pair, it made Tomczak's VampPrior evaluate
    in chunks of 16 pairs, each encoding the pseudo-inputs again). The random state is left
    as it was."""
    was_training = model.training
    model.eval()  # no running statistics or codebook updates from the probe
    try:
        one, lw = _saved_bytes(model, x[:1], 2)
        two, _ = _saved_bytes(model, torch.cat([x[:1], x[:1]]), 2)
    except ConfigError:
        raise
    except Exception as e:  # a user's model that fails on its first example: say whose
        from vaelab.models.registry import is_builtin, model_label

        if is_builtin(model):
            raise
        raise ConfigError(f"{model_label(model)} failed on one example: {type(e).__name__}: "
                          f"{' '.join(str(e).split())[:200]}") from None
    finally:
        model.train(was_training)
    if not torch.isfinite(lw).all():
        from vaelab.models.registry import model_label

        raise ConfigError(f"{model_label(model)} gives log-weights {lw.flatten().tolist()} on "
                          "one example before any training: its log_likelihood, prior or "
                          "posterior returns NaN or Inf; fix the model (or the data: "
                          "log p(x|z) must be finite at every example)")
    once = min(one, max(0, 2 * one - two))
    return max(1, math.ceil((one - once) / 2)), once


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (CUDA: free device memory; CPU: the OS's MemAvailable), or None
    when it cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.2f} GiB"


def check_training_fits(model: Model, x: torch.Tensor, K: int, batch_size: int,
                        device: torch.device, data_bytes: int = 0) -> dict:
    """Estimate a training step's memory (activations for K x batch pairs, kept for backward,
    x 2 for gradients and temporaries; parameters x 4 for weights, gradients and Adam's two
    moments; the data held on the device) and refuse it if the device cannot hold it."""
    per, once = activation_bytes(model, x)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    need = 2 * (per * K * batch_size + once) + 4 * params + data_bytes
    have = available_bytes(device)
    if have is not None and need > 0.9 * have:
        fit = max(0, int((0.9 * have - 4 * params - data_bytes - 2 * once) / (2 * per * K)))
        raise ConfigError(
            f"a training step needs about {_gib(need)} ({per / 1024:.1f} KiB per sample and "
            f"example x K={K} x batch {batch_size}), but {device} has {_gib(have)} free; lower "
            f"--batch-size (at most ~{fit} fits) or --k")
    return {"pair_bytes": per, "need_bytes": need, "available_bytes": have}


# On the CPU a chunk's activations are kept under this: glibc serves allocations above its mmap
# threshold (at most 32 MiB) by fresh mappings that it unmaps on free, so bigger temporaries are
# page-faulted in again for every chunk; at 64 MiB of activations per chunk the largest single
# tensor stays below that (K = 5000 evaluation 2x faster, BENCHMARKS.md section 10)
CPU_CHUNK_BYTES = 64 << 20


def eval_chunk(model: Model, x: torch.Tensor, device: torch.device, default: int) -> int:
    """(sample, example) pairs per evaluation pass: ``default`` or the model's own hint, halved
    (on the CPU) until its activations fit in ``CPU_CHUNK_BYTES`` and (everywhere) until a
    quarter of the free memory holds it. The chunk decides which random draw goes to which
    example, so it depends only on the model and the device type unless memory forces it (in
    powers of two): the same command gives the same numbers wherever the default fits. Raises
    if one pair cannot fit."""
    per, once = activation_bytes(model, x)
    have = available_bytes(device)
    chunk = min(default, model.eval_max_samples() or default)
    if device.type == "cpu":
        while chunk > 1 and chunk * per + once > CPU_CHUNK_BYTES:
            chunk //= 2
    if have is not None:
        if per + once > 0.9 * have:
            raise ConfigError(f"one sample of one example needs about {_gib(per + once)} but "
                              f"{device} has {_gib(have)} free; evaluate on a larger device")
        while chunk > 1 and chunk * per + once > 0.25 * have:
            chunk //= 2
    return chunk
