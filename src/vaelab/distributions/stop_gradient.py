"""``stop_gradient(q)``: the same density with its parameters cut from the graph.

STL (Roeder et al. 2017) and DReG (Tucker et al. 2019) evaluate log q_phi(z) with phi treated as
a constant while z = z(phi, eps) keeps its path. For a distribution built from tensors that is a
copy with every parameter tensor detached; a distribution whose parameters depend on the latent
itself (a hierarchy's q(z_2 | z_1)) or live in modules (flows) says how by subclassing
:class:`StopGradient`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod

import torch
from torch import nn
from torch.distributions import Distribution, Transform
from torch.func import functional_call

from vaelab.errors import ConfigError


class StopGradient(ABC):
    """A distribution that knows how to stop its own parameters' gradients."""

    @abstractmethod
    def stop_gradient(self) -> Distribution:
        """The same density, with parameters constant and the path through the argument kept."""


def detached(obj, seen: dict | None = None):
    """A copy of a distribution (or tensor, or list of them) with every parameter detached."""
    seen = {} if seen is None else seen
    if torch.is_tensor(obj):
        return obj.detach()
    if isinstance(obj, (list, tuple)):
        return type(obj)(detached(o, seen) for o in obj)
    if isinstance(obj, nn.Module):
        raise ConfigError(
            f"cannot stop the gradient of a distribution that holds a module "
            f"({type(obj).__name__}); give it a stop_gradient() by subclassing "
            "vaelab.distributions.StopGradient, or use the reparam estimator")
    if isinstance(obj, (Distribution, Transform)):
        if id(obj) not in seen:
            new = copy.copy(obj)
            seen[id(obj)] = new
            for k, v in obj.__dict__.items():
                if k != "_inv":  # a transform's weak reference to its inverse
                    new.__dict__[k] = detached(v, seen)
        return seen[id(obj)]
    return obj


def constant_call(module: nn.Module, *args):
    """``module(*args)`` with the module's parameters held constant (detached): the same function,
    its path through ``args`` kept."""
    return functional_call(module, {k: v.detach() for k, v in module.named_parameters()}, args)


def stop_gradient(q: Distribution) -> Distribution:
    """``q`` with every parameter detached: ``log_prob(z)`` keeps its gradient w.r.t. ``z``."""
    if isinstance(q, StopGradient):
        return q.stop_gradient()
    return detached(q)
