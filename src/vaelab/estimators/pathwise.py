"""Pathwise estimators: reparameterization, sticking the landing (STL) and DReG."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.errors import ConfigError
from vaelab.estimators.base import (
    ESTIMATORS,
    Estimator,
    EstimatorOutput,
    Terms,
    log_joint_constant_theta,
    score,
)
from vaelab.models.base import Model
from vaelab.objectives.base import Objective
from vaelab.objectives.bounds import iwae_bound, normalized_weights


@dataclass(frozen=True)
class NoOptions:
    """This estimator has no options besides K."""


@ESTIMATORS.register("reparam", NoOptions, help="reparameterization: the gradient through "
                     "z = mu + sigma * eps (Kingma & Welling 2014)")
class Reparam(Estimator):
    """grad of E_eps[f(z(eps, phi))] through the sample; both terms are the objective."""

    name = "reparam"
    pathwise = True
    splits_gradients = True

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = model.posterior(x)
        z = q.rsample((self.K,)) if q.has_rsample else q.sample((self.K,))
        s = score(model, x, z, q)
        bound = objective.bound(s.log_w).detach()
        if not objective.split_gradients:
            obj = objective(s)
            return Terms(bound, obj, obj, s, self._aux(model, s))
        # two bounds (PIWAE): theta sees the objective at the draws held fixed, phi the
        # inference bound with theta held constant, so the summed surrogate routes each
        zd = z.detach()
        model_term = objective.bound(model.log_joint(x, zd) - q.log_prob(zd).detach())
        inference = objective.inference_bound(log_joint_constant_theta(model, x, z)
                                              - q.log_prob(z))
        return Terms(bound, model_term, inference, s, self._aux(model, s))


@ESTIMATORS.register("stl", NoOptions, help="sticking the landing (Roeder et al. 2017): "
                     "reparameterization without the score term; unbiased for the ELBO only")
class STL(Estimator):
    """The pathwise gradient with the score term grad_phi log q_phi(z)|_z dropped: log q is
    evaluated with stopped parameters. For theta log q does not matter, so the model and
    inference terms are one expression. Unbiased for the ELBO, zero encoder variance when q is
    the exact posterior; biased for L_K with K > 1 (Tucker et al. 2019)."""

    name = "stl"
    pathwise = True
    needs_rsample = True

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = model.posterior(x)
        s = score(model, x, q.rsample((self.K,)), q, stop_q=True)
        obj = objective(s)
        return Terms(objective.bound(s.log_w).detach(), obj, obj, s, self._aux(model, s))


@ESTIMATORS.register("dreg", NoOptions, help="doubly reparameterized gradient for L_K "
                     "(Tucker et al. 2019): unbiased, encoder SNR that does not fall with K")
class DReG(Estimator):
    """Doubly reparameterized gradient for the IWAE bound (Tucker et al. 2019), log q with
    stopped parameters::

        model term      L_K = log (1/K) sum_k w_k        -> theta: sum_k w~_k grad log p(x, z_k)
        inference term  sum_k stop(w~_k)^2 log w_k       -> phi:   sum_k w~_k^2 (d log w_k/dz_k)
                                                                    (d z_k / d phi)

    ``forward`` gets both in one backward pass: the gradient reaching each z_k is scaled by
    w~_k (a hook), so the logsumexp's w~_k becomes w~_k^2 on the phi path only."""

    name = "dreg"
    pathwise = True
    needs_rsample = True
    stackable = False  # the hook that squares w~ on the phi path is not batched by vmap

    def check(self, model: Model, objective: Objective) -> None:
        super().check(model, objective)
        if not objective.importance_weighted:
            raise ConfigError(f"dreg estimates the gradient of L_K, not of {objective.label}: use "
                              "--objective iwae (for the ELBO use stl, which DReG reduces to "
                              "there)")

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = model.posterior(x)
        s = score(model, x, q.rsample((self.K,)), q, stop_q=True)
        log_w = s.log_w
        inference = (normalized_weights(log_w) ** 2 * log_w).sum(0)
        bound = iwae_bound(log_w)
        return Terms(bound.detach(), bound, inference, s, self._aux(model, s))

    def forward(self, model: Model, x: torch.Tensor, objective: Objective) -> EstimatorOutput:
        q = model.posterior(x)
        z = q.rsample((self.K,))
        z_used = z.view_as(z)  # a node of its own: its hook sees only the densities' gradient
        s = score(model, x, z_used, q, stop_q=True)
        log_w = s.log_w
        if z_used.requires_grad:
            w = normalized_weights(log_w).unsqueeze(-1)  # [K, B, 1]
            z_used.register_hook(lambda g: g * w)
        bound = iwae_bound(log_w)
        return EstimatorOutput(bound.detach(), bound, s, self._aux(model, s))
