"""Many runs of one architecture in one process, as one stacked model (torch.func).

N training steps (model + estimator + objective, the ``Step`` that `vaelab train` runs) that share
an architecture are stacked along a leading run axis (``torch.func.stack_module_state``) and
evaluated by one ``vmap``-ed call per batch, so N small models cost one set of batched kernels
instead of N launches. Runs may differ in anything that lives in the parameters (the seed of
their initialization) and in the learning rate; they share the batches.

Draws: every run gets the same draws (common random numbers: what a paired comparison of
learning rates or initializations wants), so run n is exactly the solo run of its model that
starts from the same global random state (a test checks it to float tolerance). Replicates with
independent draws are solo runs: ``torch.distributions`` fills its noise in place on an
unbatched tensor, which ``vmap`` cannot give per-run randomness. Adam is elementwise, so one
Adam over the stacked tensors is N independent Adams; a run's learning rate scales its update
(exact: Adam's step is linear in the learning rate).
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from vaelab.errors import ConfigError
from vaelab.training.loop import Step


class StackedRuns:
    """N steps stacked: ``steps`` are ``Step`` modules with identical parameter names and shapes;
    ``lrs`` one learning rate per run."""

    def __init__(self, steps: list[Step], lrs: list[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-4) -> None:
        if not steps or len(lrs) != len(steps):
            raise ConfigError(f"stacked runs need one learning rate per run: {len(steps)} runs, "
                              f"{len(lrs)} learning rates")
        shapes = [{k: tuple(v.shape) for k, v in s.state_dict().items()} for s in steps]
        if any(s != shapes[0] for s in shapes[1:]):
            raise ConfigError("stacked runs must share one architecture (the same parameter "
                              "names and shapes)")
        if not all(s.estimator.stackable for s in steps):
            names = sorted({s.estimator.name for s in steps if not s.estimator.stackable})
            raise ConfigError(f"the {', '.join(names)} estimator cannot be stacked (its gradient "
                              "uses a tensor hook, which vmap does not batch): train those runs "
                              "one by one")
        if any(not (0 < lr < float("inf")) for lr in lrs):
            raise ConfigError(f"learning rates must be finite and > 0, got {list(lrs)}")
        self.template = copy.deepcopy(steps[0]).to("meta")  # structure only: no memory
        params, self.buffers = stack_module_state(steps)
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.n = len(steps)
        first = next(iter(self.params.values()))
        self.lrs = torch.as_tensor(lrs, dtype=first.dtype, device=first.device)
        self.opt = torch.optim.Adam(list(self.params.values()), lr=1.0, betas=betas, eps=eps)

    def _one(self, params: dict, buffers: dict, x: torch.Tensor):
        return functional_call(self.template, (params, buffers), (x,))

    def step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step of every run on the batch x: returns the losses and the mean bounds,
        each ``[N]``."""
        losses, bounds = vmap(self._one, in_dims=(0, 0, None), randomness="same")(
            self.params, self.buffers, x)
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # runs are independent: the sum's gradient is each run's own
        before = [p.detach().clone() for p in self.params.values()]
        self.opt.step()  # Adam at learning rate 1 ...
        with torch.no_grad():  # ... and each run's update scaled by its learning rate
            for p, b in zip(self.params.values(), before):
                p.copy_(b + self.lrs.view(-1, *[1] * (p.ndim - 1)) * (p - b))
        return losses.detach(), bounds.detach()

    def unstack(self, steps: list[Step]) -> list[Step]:
        """Copy each run's parameters and buffers into ``steps`` (modules of the same
        architecture, e.g. the ones stacked) and return them: a solo model per run, to evaluate
        or save like any other."""
        if len(steps) != self.n:
            raise ConfigError(f"unstack needs {self.n} modules, got {len(steps)}")
        with torch.no_grad():
            for i, s in enumerate(steps):
                state = {k: v[i] for k, v in {**self.params, **self.buffers}.items()}
                s.load_state_dict(state, strict=False)
        return steps
