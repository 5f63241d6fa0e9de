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


def normalized_grads(grads: list[torch.Tensor], in_place: bool = False) -> list[torch.Tensor]:
    """g / (||g||_2 + 1e-7) for each gradient tensor: Tomczak & Welling's AdamNormGrad, Adam on
    gradients of unit norm per parameter tensor."""
    norms = torch._foreach_add(torch._foreach_norm(grads), 1e-7)
    if in_place:
        torch._foreach_div_(grads, norms)
        return grads
    return list(torch._foreach_div(grads, norms))


class EagerUpdate:
    """``update(x)``: loss -> backward -> optimizer step, each by PyTorch's own calls (``runner``
    may be the compiled or DDP-wrapped ``Step``). Returns the detached (loss, bound).
    ``normalize``: each gradient tensor scaled to unit norm before the step."""

    def __init__(self, runner, optimizer: torch.optim.Optimizer, normalize: bool = False) -> None:
        self.runner, self.optimizer, self.normalize = runner, optimizer, normalize

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, bound = self.runner(x)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.normalize:
            normalized_grads([p.grad for g in self.optimizer.param_groups for p in g["params"]
                              if p.grad is not None], in_place=True)
        self.optimizer.step()
        return loss.detach(), bound.detach()


def run_epoch(update, batches, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One pass: ``update(x)`` (one optimizer step, eager ``EagerUpdate`` or compiled
    ``WholeStep``) for each batch. Sums stay on the device (no host synchronization per step).
    Returns (loss sum, bound sum, steps)."""
    loss_sum = torch.zeros((), device=device)
    bound_sum = torch.zeros((), device=device)
    steps = 0
    for x in batches:
        loss, bound = update(x)
        loss_sum += loss
        bound_sum += bound
        steps += 1
    return loss_sum, bound_sum, steps
