"""The training step and the epoch loop."""

from __future__ import annotations

import torch
from torch import nn

from vaelab.estimators.base import Estimator
from vaelab.models.base import AuxiliaryObjective, Model
from vaelab.objectives.base import Objective


class Step(nn.Module):
    """Model + estimator as one module, so that DDP and torch.compile see one forward that runs
    the whole estimate. ``objective`` is set for each epoch (schedules such as KL warm-up)."""

    def __init__(self, model: Model, estimator: Estimator, objective: Objective) -> None:
        super().__init__()
        self.model, self.estimator, self.objective = model, estimator, objective
        self.side_losses: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.estimator(self.model, x, self.objective)
        if out.side_losses:  # eager only (auxiliaries refuse compiled steps): no mutation in a
            self.side_losses = out.side_losses  # compiled graph, which would break it
        return out.loss, out.bound.mean()

    def auxiliaries(self) -> list[AuxiliaryObjective]:
        """The auxiliary objectives the model and the estimator declare."""
        return self.model.auxiliary_objectives() + self.estimator.auxiliary_objectives()

    def param_groups(self, lr: float) -> list[dict]:
        """Adam's groups: the main parameters at ``lr``, then one group per auxiliary objective
        at its own settings (named by ``aux``: the learning-rate schedule leaves it alone)."""
        aux = self.auxiliaries()
        theirs = {id(p) for a in aux for p in a.parameters}
        groups = [{"params": [p for p in self.parameters() if id(p) not in theirs], "lr": lr}]
        return groups + [{"params": list(a.parameters), "lr": a.lr, "betas": a.betas,
                          "aux": a.name} for a in aux]


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
    ``normalize``: each gradient tensor of the main group scaled to unit norm before the step.
    Auxiliary groups (``Step.param_groups``) get the gradient of their own side loss only."""

    def __init__(self, runner, optimizer: torch.optim.Optimizer, normalize: bool = False,
                 step: Step | None = None) -> None:
        self.runner, self.optimizer, self.normalize, self.step = runner, optimizer, normalize, step
        self.aux = [g for g in optimizer.param_groups if "aux" in g]
        if self.aux and step is None:
            raise ValueError("auxiliary groups need the Step whose side losses they minimise")

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, bound = self.runner(x)
        side = [torch.autograd.grad(self.step.side_losses[g["aux"]], g["params"],
                                    retain_graph=True, allow_unused=True)
                for g in self.aux] if self.step is not None else []
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for g, grads in zip(self.aux, side):  # their own loss's gradient, not the main one's
            for p, d in zip(g["params"], grads):
                p.grad = d
        if self.normalize:
            main = self.optimizer.param_groups[0]
            normalized_grads([p.grad for p in main["params"] if p.grad is not None],
                             in_place=True)
        self.optimizer.step()
        return loss.detach(), bound.detach()
