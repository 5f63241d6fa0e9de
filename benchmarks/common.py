"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import torch


def machine(device: torch.device | None = None) -> str:
    """The GPU's name, or the CPU's architecture and torch thread count."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def time_steps(step: Callable[[], None], steps: int, device: torch.device,
               warmup: int = 0) -> float:
    """Wall time of ``steps`` calls of ``step`` after ``warmup`` untimed ones (GPU synchronized)."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0
