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
(exact: Adam's step is linear in the learning rate). With ``compile`` the whole stacked step
(forward, backward, Adam and the scaling) is one compiled graph (``WholeStep``).
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from vaelab.errors import ConfigError
from vaelab.training.loop import Step
from vaelab.training.whole_step import WholeStep


class StackedRuns:
    """N steps stacked: ``steps`` are ``Step`` modules with identical parameter names and shapes;
    ``lrs`` one learning rate per run; ``compile`` a torch.compile mode for the whole step
    (empty: eager)."""

    def __init__(self, steps: list[Step], lrs: list[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-4,
                 compile: str = "") -> None:
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
        if steps[0].auxiliaries():
            raise ConfigError(f"{steps[0].auxiliaries()[0].name} trains its own network beside "
                              "the model, which a stack does not do: train those runs one by "
                              "one with `vaelab train`")
        self._check_lrs(lrs)
        self.template = copy.deepcopy(steps[0]).to("meta")  # structure only: no memory
        params, self.buffers = stack_module_state(steps)
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.n = len(steps)
        first = next(iter(self.params.values()))
        self.device = first.device
        self.lrs = torch.as_tensor(lrs, dtype=first.dtype, device=first.device)
        self.opt = torch.optim.Adam(list(self.params.values()), lr=1.0, betas=betas, eps=eps,
                                    capturable=bool(compile))
        self.whole = None
        if compile:
            scale = [self.lrs.view(-1, *[1] * (p.ndim - 1)) for p in self.params.values()]
            self.whole = WholeStep(self._losses, self.opt, compile, update_scale=scale)

    @staticmethod
    def _check_lrs(lrs) -> None:
        if any(not (0 < lr < float("inf")) for lr in lrs):
            raise ConfigError(f"learning rates must be finite and > 0, got {list(lrs)}")

    def set_lrs(self, lrs: list[float]) -> None:
        """New learning rates (a schedule's next epoch), one per run."""
        if len(lrs) != self.n:
            raise ConfigError(f"{self.n} runs need {self.n} learning rates, got {len(lrs)}")
        self._check_lrs(lrs)
        self.lrs.copy_(torch.as_tensor(lrs, dtype=self.lrs.dtype))  # in place: the graph reads it

    def _one(self, params: dict, buffers: dict, x: torch.Tensor):
        return functional_call(self.template, (params, buffers), (x,))

    def _losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        losses, bounds = vmap(self._one, in_dims=(0, 0, None), randomness="same")(
            self.params, self.buffers, x)
        # runs are independent: the sum's gradient is each run's own
        return losses.sum(), losses, bounds

    def check(self, x: torch.Tensor) -> None:
        """Refuse, in one line, a model that ``vmap`` cannot run (data-dependent Python control
        flow, in-place updates of its buffers): one stacked forward on ``x``, with the random
        state left as it was."""
        devices = [x.device] if x.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                self._losses(x)
        except (RuntimeError, ValueError) as e:
            name = type(self.template.model).__name__
            raise ConfigError(f"{name} cannot be stacked ({str(e).split('.')[0][:160]}): train "
                              "its runs one by one with `vaelab train`") from None

    def step(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One training step of every run on the batch x: returns the losses and the mean bounds,
        each ``[N]``."""
        if self.whole is not None:
            _, losses, bounds = self.whole(x)
            return losses, bounds
        total, losses, bounds = self._losses(x)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
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

    def optimizer_state(self, i: int, opt: torch.optim.Adam) -> torch.optim.Adam:
        """Give ``opt`` (a solo Adam over run i's unstacked parameters, in ``named_parameters``
        order) run i's Adam state and learning rate: what a solo run resumed from here needs."""
        if self.opt.state:
            names = list(self.params)
            for name, p in zip(names, opt.param_groups[0]["params"]):
                st = self.opt.state[self.params[name]]
                opt.state[p] = {"step": st["step"].detach().clone(),
                                "exp_avg": st["exp_avg"][i].detach().clone(),
                                "exp_avg_sq": st["exp_avg_sq"][i].detach().clone()}
        opt.param_groups[0]["lr"] = float(self.lrs[i])
        return opt

    def load_optimizer_states(self, opts: list[torch.optim.Adam]) -> None:
        """The inverse of ``optimizer_state``: stack the solo Adams' states (a resumed stack). All
        runs of a stack have taken the same number of steps."""
        if len(opts) != self.n:
            raise ConfigError(f"{self.n} runs need {self.n} optimizer states, got {len(opts)}")
        for j, p in enumerate(self.params.values()):
            solo = [o.state[o.param_groups[0]["params"][j]] for o in opts]
            if not all(solo):
                continue
            new = {"step": solo[0]["step"].detach().to(torch.float32),
                   "exp_avg": torch.stack([s["exp_avg"] for s in solo]),
                   "exp_avg_sq": torch.stack([s["exp_avg_sq"] for s in solo])}
            st = self.opt.state[p]
            if st:  # a compiled step reads these very tensors: fill them in place
                for key, v in new.items():
                    st[key].copy_(v)
            else:  # torch.optim's layout: a capturable Adam keeps its step count on the device
                capturable = self.opt.param_groups[0]["capturable"]
                st.update({k: v.to(p.device) if k != "step" or capturable else v.cpu()
                           for k, v in new.items()})
