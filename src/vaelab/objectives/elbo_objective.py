"""The ELBO and its KL-controlled forms: beta-VAE (Higgins et al. 2017), KL warm-up (the weight
of the KL grows linearly to beta; Bowman et al. 2016, Sonderby et al. 2016) and free bits
(Kingma et al. 2016). Each trains a reweighted objective; the reported bound is the true ELBO.

    ELBO        (1/K) sum_k log w_k
    beta        (1/K) sum_k [log p(x|z_k) - beta (log q(z_k|x) - log p(z_k))]
    free bits   E_q[log p(x|z)] - beta sum_j max(lambda, E_batch KL(q(z_j|x) || p(z_j)))

Free bits need a diagonal Gaussian posterior and a prior that factorizes over dimensions into
Gaussians (the model's prior, not a hard-coded N(0, 1)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Distribution, Normal, kl_divergence

from vaelab.distributions.gaussian import diagonal_normal
from vaelab.errors import ConfigError
from vaelab.objectives.base import OBJECTIVES, Objective
from vaelab.objectives.bounds import elbo
from vaelab.objectives.samples import Samples
from vaelab.registry import option


@dataclass(frozen=True)
class ELBOConfig:
    beta: float = option(1.0, "weight of the KL term (nats per nat); 1 is the ELBO, > 1 a "
                         "beta-VAE")
    kl_warmup: int = option(0, "epochs over which the KL weight grows linearly to beta (0: off)")
    free_bits: float = option(0.0, "nats per latent dimension below which the KL is not "
                              "penalised (Kingma et al. 2016; 0: off)")

    def __post_init__(self) -> None:
        for name in ("beta", "kl_warmup", "free_bits"):
            v = getattr(self, name)
            if not (v >= 0 and v < float("inf")):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite number >= 0, "
                                  f"got {v}")


def require_diagonal_posterior(model, user: str) -> None:
    """Raise unless ``model`` declares a diagonal Gaussian q over one stochastic layer."""
    if not model.capabilities.gaussian_posterior or len(model.latent_sizes) != 1:
        raise ConfigError(f"{user} a diagonal Gaussian posterior over one stochastic layer; "
                          f"{type(model).__name__} ({len(model.latent_sizes)} layer(s)) does "
                          "not declare one")


def per_dimension_kl(q: Distribution, prior: Distribution) -> torch.Tensor:
    """KL(q(z_j|x) || p(z_j)) per example and dimension, ``[B, D]``, in closed form."""
    qn, pn = diagonal_normal(q, "posterior"), diagonal_normal(prior, "prior")
    return kl_divergence(qn, Normal(pn.loc.expand_as(qn.loc), pn.scale.expand_as(qn.scale)))


@OBJECTIVES.register("elbo", ELBOConfig, help="the evidence lower bound, with optional KL "
                     "weight (beta), warm-up and free bits")
class ELBO(Objective):
    name = "elbo"

    def __init__(self, config: ELBOConfig | None = None,
                 kl_weight: float | torch.Tensor | None = None) -> None:
        self.config = config or ELBOConfig()
        self.kl_weight = self.config.beta if kl_weight is None else kl_weight

    @property
    def reweighted(self) -> bool:
        """The KL is weighted (beta != 1, or a warm-up, at any epoch of it): decided by the
        configuration alone, never by the weight's value, which may be a tensor in a graph."""
        return self.config.beta != 1.0 or self.config.kl_warmup > 0

    @property
    def log_w_only(self) -> bool:  # type: ignore[override]
        return not self.reweighted and self.config.free_bits == 0

    def check(self, model) -> None:
        if self.config.free_bits > 0:
            require_diagonal_posterior(model, "--free-bits needs")
            diagonal_normal(model.prior, "prior", "--free-bits needs")

    def __call__(self, s: Samples) -> torch.Tensor:
        c, w = self.config, self.kl_weight
        if c.free_bits > 0:
            kl_j = per_dimension_kl(s.q, s.prior).mean(0)  # batch-average KL per dimension
            return s.log_likelihood.mean(0) - w * kl_j.clamp_min(c.free_bits).sum()
        if self.reweighted:
            return (s.log_likelihood - w * (s.log_q - s.log_prior)).mean(0)
        return elbo(s.log_w)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return elbo(log_w)

    def learning_signal(self, log_w: torch.Tensor) -> tuple[torch.Tensor, float] | None:
        """Each draw's own log-weight, scaled by 1/K: the gradient of (1/K) sum_k log w_k."""
        if not self.log_w_only:
            return None
        return log_w, 1.0 / log_w.shape[0]

    def leave_one_out(self, log_w: torch.Tensor) -> torch.Tensor:
        """mean_{j != k} log w_j (RLOO, Kool et al. 2019)."""
        K = log_w.shape[0]
        return (log_w.sum(0, keepdim=True) - log_w) / (K - 1)

    @property
    def warmup_epochs(self) -> int:
        return self.config.kl_warmup

    def at_epoch(self, epoch: int, device: torch.device | str | None = None) -> ELBO:
        """beta, ramped linearly from beta / kl_warmup to beta over the first kl_warmup epochs
        (a 0-dim tensor of the default dtype on ``device`` when one is given)."""
        c = self.config
        if not c.kl_warmup:
            return self
        w = c.beta * min(1.0, (epoch + 1) / c.kl_warmup)
        return ELBO(c, w if device is None else torch.tensor(w, device=device))
