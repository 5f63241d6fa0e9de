"""beta-TCVAE (Chen et al. 2018): the ELBO with the total correlation of the aggregate posterior
weighted by beta. The average KL splits into index-code mutual information, total correlation
(TC) and dimension-wise KL; only the TC is reweighted:

    objective = (1/K) sum_k [log w_k - (beta - 1) TC(z_k)]

TC(z) = log q(z) - sum_d log q(z_d) for the aggregate posterior of the minibatch,
q_B(z) = (1/M) sum_j q(z | x_j), evaluated at the batch's own draws (Chen et al.'s minibatch
weighted sampling without the data-set size N, which shifts TC by the constant (D - 1) log N and
changes no gradient). With beta = 1 the objective is the ELBO; the reported bound is always the
ELBO. Needs a diagonal Gaussian posterior (one stochastic layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Distribution

from vaelab.distributions.gaussian import diagonal_normal
from vaelab.errors import ConfigError
from vaelab.objectives.base import OBJECTIVES, Objective
from vaelab.objectives.bounds import elbo
from vaelab.objectives.elbo_objective import require_diagonal_posterior
from vaelab.objectives.samples import Samples
from vaelab.registry import option


@dataclass(frozen=True)
class TCVAEConfig:
    tc_weight: float = option(6.0, "beta-TCVAE: weight beta of the total correlation of the "
                              "batch's aggregate posterior (1: the ELBO; Chen et al. use 6 on "
                              "dSprites)")

    def __post_init__(self) -> None:
        if not (0 <= self.tc_weight < float("inf")):
            raise ConfigError(f"--tc-weight must be a finite number >= 0, got {self.tc_weight}")


def total_correlation(z: torch.Tensor, q: Distribution) -> torch.Tensor:
    """TC of the minibatch aggregate posterior at each draw: z ``[K, B, D]``, q(z|x) a diagonal
    Gaussian with batch ``[B]`` -> ``[K, B]`` nats (zero when every q(z|x_j) is the same
    factorized Gaussian)."""
    qn = diagonal_normal(q, "posterior", "the total correlation needs")
    lq = qn.log_prob(z.unsqueeze(-2))  # log q(z_{k,i,d} | x_j): [K, B, B, D]
    log_m = math.log(lq.shape[-2])
    joint = torch.logsumexp(lq.sum(-1), -1) - log_m
    marginals = (torch.logsumexp(lq, -2) - log_m).sum(-1)
    return joint - marginals


@OBJECTIVES.register("tcvae", TCVAEConfig, help="beta-TCVAE (Chen et al. 2018): the ELBO with "
                     "the total correlation of the aggregate posterior weighted by --tc-weight")
class TCVAE(Objective):
    name = "tcvae"
    log_w_only = False

    def __init__(self, config: TCVAEConfig | None = None) -> None:
        self.config = config or TCVAEConfig()

    def check(self, model) -> None:
        if self.config.tc_weight != 1:
            require_diagonal_posterior(model, "--objective tcvae needs")

    def __call__(self, s: Samples) -> torch.Tensor:
        extra = self.config.tc_weight - 1
        if extra == 0:
            return elbo(s.log_w)
        return (s.log_w - extra * total_correlation(s.z, s.q)).mean(0)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return elbo(log_w)
