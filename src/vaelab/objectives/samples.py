"""What an estimator hands an objective: K posterior draws per example and their densities."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Distribution


@dataclass
class Samples:
    """K draws z ~ q(z|x) per example, as an estimator drew them (with or without a path to phi).

    z ``[K, B, D]``; ``log_likelihood`` = log p(x|z), ``log_prior`` = log p(z), ``log_q`` =
    log q(z|x) (evaluated with stopped parameters if the estimator chose so), all ``[K, B]``;
    ``q`` and ``prior`` are the distributions themselves (closed-form KL, free bits).
    """

    z: torch.Tensor
    log_likelihood: torch.Tensor
    log_prior: torch.Tensor
    log_q: torch.Tensor
    q: Distribution
    prior: Distribution

    @property
    def log_w(self) -> torch.Tensor:
        """log w_k = log p(x, z_k) - log q(z_k|x), ``[K, B]``."""
        return self.log_likelihood + self.log_prior - self.log_q

    @property
    def log_w_theta(self) -> torch.Tensor:
        """log p(x, z_k) - stop(log q(z_k|x)), ``[K, B]``: the log-weights whose gradient is the
        estimate for the generative parameters (theta) when z carries no path to them."""
        return self.log_likelihood + self.log_prior - self.log_q.detach()

    @property
    def log_w_phi(self) -> torch.Tensor:
        """stop(log p(x, z_k)) - log q(z_k|x): the score-function estimators' direct term."""
        return (self.log_likelihood + self.log_prior).detach() - self.log_q

    @property
    def K(self) -> int:
        return self.log_w.shape[0]
