"""Reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019, "Revisiting reweighted
wake-sleep"): the decoder follows the gradient of L_K, the encoder the *wake-phi* update

    grad_phi ~= sum_k w~_k grad_phi log q_phi(z_k | x),   z_k ~ q, w~ the normalized weights,

a self-normalized estimate of -grad_phi KL(p(z|x) || q_phi(z|x)) (biased for finite K, exact as
K grows): it fits q to the posterior in the inclusive direction and needs no path through z,
so it trains discrete latents as well as continuous ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelab.errors import ConfigError
from vaelab.estimators.base import ESTIMATORS, Estimator, Terms, score
from vaelab.models.base import Model
from vaelab.objectives.base import Objective
from vaelab.objectives.bounds import iwae_bound, normalized_weights


@dataclass(frozen=True)
class RWSConfig:
    """Reweighted wake-sleep has no options besides K."""


@ESTIMATORS.register("rws", RWSConfig, help="reweighted wake-sleep: theta by L_K, phi by the "
                     "wake-phi update (Bornschein & Bengio 2015); any latent, --objective iwae")
class ReweightedWakeSleep(Estimator):
    name = "rws"
    needs_stochastic_q = True

    def check(self, model: Model, objective: Objective) -> None:
        super().check(model, objective)
        if not objective.importance_weighted:
            raise ConfigError(f"rws trains the decoder on L_K, not on {objective.label}: use "
                              "--objective iwae")

    def terms(self, model: Model, x: torch.Tensor, objective: Objective) -> Terms:
        q = model.posterior(x)
        s = score(model, x, q.sample((self.K,)), q)
        model_term = iwae_bound(s.log_w_theta)
        inference_term = (normalized_weights(s.log_w) * s.log_q).sum(0)
        return Terms(iwae_bound(s.log_w).detach(), model_term, inference_term, s,
                     self._aux(model, s))
