"""Minibatches from a tensor that lives on the device: one index per step, no per-item Python."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class TensorBatches:
    """Shuffled minibatches of ``data`` ``[N, D]`` (on its device), optionally sharded by rank.

    With ``dynamic_binarize`` each batch is a fresh Bernoulli sample of the grey levels.
    The shuffle uses ``generator`` (CPU), whose state is checkpointed for exact resumption.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, shuffle: bool = True,
                 dynamic_binarize: bool = False, generator: torch.Generator | None = None,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False) -> None:
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.dynamic_binarize, self.drop_last = dynamic_binarize, drop_last
        self.generator = generator or torch.Generator()
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        n = len(self.data) // self.world_size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        n = len(self.data)
        idx = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        per_rank = n // self.world_size  # every rank takes the same number of steps
        idx = idx[self.rank * per_rank:(self.rank + 1) * per_rank].to(self.data.device)
        for i in range(len(self)):
            x = self.data[idx[i * self.batch_size:(i + 1) * self.batch_size]]
            yield torch.bernoulli(x) if self.dynamic_binarize else x
