"""torch.distributed set-up for ``torchrun``: NCCL on GPUs, gloo on CPUs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: torch.device) -> DistInfo:
    """Initialise the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def all_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Logical AND of ``flag`` over ranks (so every rank takes the same branch)."""
    if not info.enabled:
        return flag
    t = torch.tensor([0 if flag else 1], device=device)
    dist.all_reduce(t)
    return int(t.item()) == 0


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def teardown(info: DistInfo, finished: bool) -> None:
    """Leave the process group. After a finished run every rank meets at a barrier first, so
    no rank destroys the group while another still talks to it (a rank that left early can
    leave the other waiting in gloo for good). After an error no rank waits: the other ranks
    may never arrive, and torchrun stops them when this one exits."""
    if not (info.enabled and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
        dist.destroy_process_group()
