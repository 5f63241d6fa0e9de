"""The whole training step as one compiled graph: forward, backward and Adam.

A plain ``torch.compile`` of the model leaves the backward pass and ``optimizer.step()`` to
eager PyTorch, one kernel launch per operation, which is what bounds a small MLP at batch 100 on
a GPU. Two things keep the rest out of the graph, and this module goes round both:

- ``Tensor.backward()``/``torch.autograd.grad`` are traced by dynamo only under its
  ``trace_autograd_ops`` setting, which this step turns on for its own calls;
- ``torch.optim.Optimizer.step`` breaks the graph on purpose (it switches grad mode), so the
  step calls torch.optim's functional Adam (``torch.optim.adam.adam``) on the optimizer's own
  state tensors, with ``capturable=True``: the step counts and the learning rates are device
  tensors, read and written inside the graph, never on the host.

The optimizer object stays the one source of truth: checkpoints, ``--resume`` and an eager
continuation see the same Adam state. With ``mode="reduce-overhead"`` on a GPU the graph is
replayed as one CUDA graph per step. Estimators whose gradient uses tensor hooks (DReG) are
traced like any other. A step dynamo cannot trace whole (an estimator that branches on a
tensor's value, such as NVIL's baseline, or VQ-VAE's EMA update) is compiled in pieces, with a
warning; there inductor may draw its own random numbers (seeded from torch's generator, so a
seed still fixes the run), making the compiled run the eager run's statistical twin, and its
exact twin under ``torch._inductor.config.fallback_random = True``. Runs under DDP do not use
this step: DDP's all-reduce lives in hooks on the gradient accumulation that
``torch.autograd.grad`` does not run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
import torch._dynamo
from torch.optim.adam import adam

from vaelab.compiled import with_own_code
from vaelab.errors import ConfigError
from vaelab.training.loop import normalized_grads

LossFn = Callable[[torch.Tensor], Sequence[torch.Tensor]]


def init_adam_state(opt: torch.optim.Adam) -> None:
    """Create the state ``Adam.step`` would create lazily (step count, first and second moments),
    so that a compiled step can update it in place from the first call."""
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state[p]
            if not st:
                st["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def place_adam_steps(opt: torch.optim.Optimizer) -> None:
    """Put each step count where this optimizer's flags need it: on its parameter's device for a
    fused or capturable Adam, on the CPU otherwise (a checkpoint written under the other flags,
    e.g. a compiled run resumed eagerly, or a run of a stack resumed alone)."""
    for group in opt.param_groups:
        on_device = group.get("fused") or group.get("capturable")
        for p in group["params"]:
            st = opt.state.get(p)
            if st and "step" in st:
                st["step"] = st["step"].to(p.device if on_device else "cpu", torch.float32)


class WholeStep:
    """``update(x)``: one Adam step on ``loss_fn(x)[0]``, compiled as one graph; returns the
    detached outputs of ``loss_fn`` (the loss first, then whatever it reports).

    ``opt`` is a ``torch.optim.Adam`` built with ``capturable=True`` (no AMSGrad); a change of a
    group's learning rate takes effect at the next call, its other settings are read once.
    ``update_scale`` (one tensor per parameter, broadcastable to it) scales each parameter's
    update after the step; stacked runs use it for a learning rate per run (exact, since Adam's
    update is linear in the learning rate). ``normalize``: each gradient tensor scaled to unit
    norm before Adam (``normalized_grads``)."""

    def __init__(self, loss_fn: LossFn, opt: torch.optim.Optimizer, mode: str = "default",
                 update_scale: Sequence[torch.Tensor] | None = None,
                 normalize: bool = False) -> None:
        if not isinstance(opt, torch.optim.Adam):
            raise ConfigError(f"the compiled training step runs Adam, not {type(opt).__name__}")
        for g in opt.param_groups:
            if not g["capturable"] or g["amsgrad"] or g["maximize"] or g["differentiable"]:
                raise ConfigError("the compiled training step needs torch.optim.Adam(..., "
                                  "capturable=True) without amsgrad, maximize or differentiable")
        self.loss_fn, self.optimizer, self.mode = loss_fn, opt, mode
        init_adam_state(opt)
        self.params = [p for g in opt.param_groups for p in g["params"]]
        if update_scale is not None and len(update_scale) != len(self.params):
            raise ConfigError(f"update_scale needs one tensor per parameter ({len(self.params)}),"
                              f" got {len(update_scale)}")
        self.update_scale, self.normalize = update_scale, normalize
        self.graphs = 64  # dynamo's recompile limit for this step's code (see __call__)
        # the graph reads these, never the param_groups dicts: dynamo would guard on every value
        # there, the learning rate included, and recompile whenever a schedule moves it
        self._groups = [(list(g["params"]), tuple(g["betas"]), float(g["weight_decay"]),
                         float(g["eps"]), bool(g.get("decoupled_weight_decay", False)))
                        for g in opt.param_groups]
        dev = self.params[0].device
        self._lr_values = [float(g["lr"]) for g in opt.param_groups]
        self._lrs = [torch.tensor(v, dtype=torch.float32, device=dev) for v in self._lr_values]
        for t in [*self._lrs, *(s for st in opt.state.values() for s in st.values())]:
            torch._dynamo.mark_static_address(t)  # fixed addresses: a CUDA graph replays them
        self.fullgraph = True
        self._compiled = self._compile()

    def _compile(self):
        return torch.compile(with_own_code(self._update), mode=self.mode or None,
                             fullgraph=self.fullgraph, dynamic=False)

    def _update(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.loss_fn(x)
        grads = torch.autograd.grad(out[0], self.params, allow_unused=True)
        if self.normalize:
            used = [g for g in grads if g is not None]
            it = iter(normalized_grads(used))
            grads = tuple(None if g is None else next(it) for g in grads)
        grad_of = dict(zip(map(id, self.params), grads))
        with torch.no_grad():
            for lr, (params, (beta1, beta2), wd, eps, decoupled) in zip(self._lrs, self._groups):
                # a parameter without a gradient is not stepped, as in Adam.step
                ps = [p for p in params if grad_of[id(p)] is not None]
                if not ps:
                    continue
                st = [self.optimizer.state[p] for p in ps]
                before = [p.clone() for p in ps] if self.update_scale is not None else None
                adam(ps, [grad_of[id(p)] for p in ps], [s["exp_avg"] for s in st],
                     [s["exp_avg_sq"] for s in st], [], [s["step"] for s in st],
                     foreach=True, capturable=True, decoupled_weight_decay=decoupled,
                     amsgrad=False, beta1=beta1, beta2=beta2, lr=lr, weight_decay=wd, eps=eps,
                     maximize=False)
                if before is not None and self.update_scale is not None:
                    scale = dict(zip(map(id, self.params), self.update_scale))
                    for p, b in zip(ps, before):
                        p.copy_(b + scale[id(p)] * (p - b))
        return [t.detach() for t in out]

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        for i, g in enumerate(self.optimizer.param_groups):
            if g["lr"] != self._lr_values[i]:  # a schedule moved it: one device write, no sync
                self._lrs[i].fill_(g["lr"])
                self._lr_values[i] = g["lr"]
        # dynamo's default of 8 graphs per code object is small for a step compiled in pieces;
        # a whole graph past the limit is a hard failure, not a fallback. Schedules (the
        # learning rate, a KL warm-up's weight) are tensors read by the graph, not new graphs
        limit = max(self.graphs, torch._dynamo.config.recompile_limit)
        with torch._dynamo.config.patch(trace_autograd_ops=True, recompile_limit=limit):
            try:
                return self._compiled(x)
            except (torch._dynamo.exc.Unsupported, torch._dynamo.exc.UserError) as e:
                if not self.fullgraph:
                    raise
                # a model or estimator that dynamo cannot trace whole (a branch on a tensor's
                # value, say): the same step in several graphs, still exact. Tracing runs on
                # fake tensors, so the failed attempt changed nothing.
                why = str(getattr(e, "msg", e)).strip().split("\n")[0][:160]
                warnings.warn(f"the training step does not compile as one graph ({why}); "
                              "compiling it in pieces", stacklevel=2)
                self.fullgraph = False
                self._compiled = self._compile()
                return self._compiled(x)
