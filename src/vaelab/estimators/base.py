"""Gradient estimators for variational objectives. An estimator owns the samples: it draws
z ~ q(z|x) through ``model.posterior(x)``, decides what is detached, and returns the objective's
value with surrogate objectives whose gradients are the estimate.

As in the DReG reference code (Tucker et al. 2019), each estimator states two surrogates per
example (``terms``): the **model term**, whose gradient w.r.t. the generative parameters theta
is the estimate for theta, and the **inference term**, whose gradient w.r.t. the inference
parameters phi is the estimate for phi. Training needs one backward pass, so ``forward`` builds a
single ``surrogate`` with

    grad_theta surrogate = grad_theta model_term,    grad_phi surrogate = grad_phi inference_term.

The default forward is the model term when both terms are the same expression (reparam, STL),
else their sum, which is right when the model term does not depend on phi and the inference
term not on theta (score function: z is detached). Estimators whose terms share a
reparameterized path (DReG) override it; a test checks the identity for every estimator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from vaelab.distributions import stop_gradient
from vaelab.errors import ConfigError
from vaelab.models.base import AuxiliaryObjective, Model
from vaelab.objectives.base import Objective
from vaelab.objectives.samples import Samples
from vaelab.registry import Registry

ESTIMATORS = Registry("estimator")


@dataclass
class Terms:
    """bound: the objective's bound per example ``[B]`` (detached).
    model_term / inference_term: surrogates ``[B]`` for theta and phi (see the module docstring).
    aux_loss: a scalar to *minimise* for parameters outside the model's two sets (a learned
    baseline) and the model's auxiliary loss (VQ codebook and commitment terms)."""

    bound: torch.Tensor
    model_term: torch.Tensor
    inference_term: torch.Tensor
    samples: Samples
    aux_loss: torch.Tensor
    side_losses: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class EstimatorOutput:
    """bound ``[B]`` (detached); surrogate ``[B]``: maximise its mean and minimise ``aux_loss``
    (``loss`` combines them); samples: the draws, for diagnostics; side_losses: the losses of
    the declared auxiliary objectives (``auxiliary_objectives``), by name, each minimised by its
    own optimiser over its own parameters."""

    bound: torch.Tensor
    surrogate: torch.Tensor
    samples: Samples
    aux_loss: torch.Tensor
    side_losses: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def loss(self) -> torch.Tensor:
        """The scalar to minimise in one backward pass."""
        return -self.surrogate.mean() + self.aux_loss


def score(model: Model, x: torch.Tensor, z: torch.Tensor, q, stop_q: bool = False) -> Samples:
    """The densities of draws ``z`` ``[K, B, D]`` of ``q``; ``stop_q`` evaluates log q with q's
    parameters cut from the graph (the path through z stays)."""
    prior = model.prior
    log_q = (stop_gradient(q) if stop_q else q).log_prob(z)
    return Samples(z, model.log_likelihood(x, z), prior.log_prob(z), log_q, q, prior)


class _LogJoint(nn.Module):
    def __init__(self, model: Model) -> None:
        super().__init__()
        self.m = model

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.m.log_joint(x, z)


def learning_signal(objective: Objective, log_w: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The objective's score-function signal and scale (``Objective.learning_signal``), for an
    estimator whose ``check`` made sure it has one."""
    out = objective.learning_signal(log_w)
    if out is None:
        raise ConfigError(f"{objective.label} has no score-function learning signal")
    return out


def log_joint_constant_theta(model: Model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x, z) ``[K, B]`` with every model parameter held constant (the path through z
    stays): an inference term that must not move theta."""
    wrapper = _LogJoint(model)
    params = {f"m.{n}": p.detach() for n, p in model.named_parameters()}
    return torch.func.functional_call(wrapper, params, (x, z), strict=False)


class Estimator(nn.Module):
    """Base class: K samples per example. Subclasses define ``terms`` (and ``forward`` when the
    default combination does not route the gradients)."""

    name = "base"
    pathwise = False           # the gradient goes through z: useless for a discrete z
    splits_gradients = False   # gives theta the objective and phi its inference bound (PIWAE)
    needs_rsample = False      # draws must carry a path to phi (q.rsample)
    needs_stochastic_q = False  # meaningless for a point-mass posterior
    stackable = True           # runs under torch.func.vmap (stacked runs): no tensor hooks

    def __init__(self, K: int = 1, config=None, x_dim: int | None = None) -> None:
        super().__init__()
        if K < 1:
            raise ConfigError(f"--k must be >= 1, got {K}")
        self.K, self.config = K, config

    def check(self, model: Model, objective: Objective) -> None:
        """Raise a ConfigError if this estimator cannot serve ``model`` and ``objective``."""
        latent = model.capabilities.latent
        if self.pathwise and latent == "discrete":
            raise ConfigError(f"the {self.name} estimator needs a reparameterizable latent; "
                              f"{type(model).__name__} has a discrete latent: use "
                              "score_function (with a baseline), gumbel or straight_through")
        if self.needs_rsample and latent != "continuous":
            raise ConfigError(f"the {self.name} estimator needs a reparameterizable latent; "
                              f"{type(model).__name__} has a {latent} latent: use reparam")
        if objective.split_gradients and not self.splits_gradients:
            raise ConfigError(f"--objective {objective.name} trains the decoder and the encoder "
                              f"on different bounds: use --estimator reparam, not {self.name}")
        if self.needs_stochastic_q and latent not in ("continuous", "discrete"):
            raise ConfigError(f"the {self.name} estimator needs a stochastic posterior; "
                              f"{type(model).__name__} has a {latent} latent: use reparam")
        objective.check(model)

    def auxiliary_objectives(self) -> list[AuxiliaryObjective]:
        """Networks the estimator trains on their own losses (none by default)."""
        return []

    def _aux(self, model: Model, s: Samples) -> torch.Tensor:
        loss = model.auxiliary_loss(s.q) if model.capabilities.auxiliary_loss else None
        return torch.zeros((), device=s.log_w.device) if loss is None else loss.mean()

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        raise NotImplementedError

    def forward(self, model: Model, x: torch.Tensor, objective: Objective) -> EstimatorOutput:
        t = self.terms(model, x, objective)
        same = t.model_term is t.inference_term
        surrogate = t.model_term if same else t.model_term + t.inference_term
        side = t.side_losses
        if self.training and torch.is_grad_enabled() and model.auxiliary_objectives():
            side = {**side, **model.side_losses(t.samples.q, t.samples.z)}
        return EstimatorOutput(t.bound, surrogate, t.samples, t.aux_loss, side)

    def extra_repr(self) -> str:
        return f"K={self.K}"
