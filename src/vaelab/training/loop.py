"""The training step and the epoch loop."""

from __future__ import annotations

import torch
from torch import nn

from vaelab.estimators.base import Estimator
from vaelab.models.base import Model
from vaelab.objectives.base import Objective


class Step(nn.Module):
    """Model + estimator as one module, so that DDP and torch.compile see one forward that runs
    the whole estimate. ``objective`` is set for each epoch (schedules such as KL warm-up)."""

    def __init__(self, model: Model, estimator: Estimator, objective: Objective) -> None:
        super().__init__()
        self.model, self.estimator, self.objective = model, estimator, objective

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.estimator(self.model, x, self.objective)
        return out.loss, out.bound.mean()


def run_epoch(runner, batches, optimizer: torch.optim.Optimizer,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One pass: for each batch, loss -> backward -> Adam step. Sums stay on the device (no
    host synchronization per step). Returns (loss sum, bound sum, steps)."""
    loss_sum = torch.zeros((), device=device)
    bound_sum = torch.zeros((), device=device)
    steps = 0
    for x in batches:
        loss, bound = runner(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach()
        bound_sum += bound.detach()
        steps += 1
    return loss_sum, bound_sum, steps
