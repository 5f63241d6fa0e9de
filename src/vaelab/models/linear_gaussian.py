"""A linear-Gaussian latent variable model (factor analysis) with everything in closed form.

p(z) = N(0, I), p(x|z) = N(W z + b, diag psi), q(z|x) = N(A x + c, diag s^2).
Then p(x) = N(b, W W^T + diag psi) and p(z|x) is Gaussian: the reference for tests of bounds,
likelihood estimates, gradient estimators and information diagnostics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from vaelab.errors import ConfigError
from vaelab.models.base import Capabilities, Model
from vaelab.models.layers import (
    MIN_STD,
    AffineFullGaussian,
    AffineGaussian,
    StandardNormal,
    inverse_softplus,
)
from vaelab.models.registry import MODELS
from vaelab.registry import option


@dataclass
class LinearGaussianConfig:
    x_shape: tuple = option((6,), "shape of one example (a vector of D values)", cli=False)
    likelihood: str = option("gaussian", "observation model (always Gaussian)", cli=False)
    latent: int = option(3, "latent dimensions d")
    posterior: str = option("diagonal", "the encoder's Gaussian family: diagonal (mean field) or "
                            "full covariance (a Cholesky factor, the lecture's Sigma^(1/2))",
                            choices=("diagonal", "full"))

    def __post_init__(self) -> None:
        self.x_shape = tuple(int(s) for s in self.x_shape)
        if self.posterior not in ("diagonal", "full"):
            raise ConfigError(f"--posterior of linear_gaussian must be diagonal or full (its "
                              f"posteriors are Gaussian), not {self.posterior!r}")


@MODELS.register("linear_gaussian", LinearGaussianConfig,
                 help="factor analysis with a linear Gaussian encoder: exact log p(x), exact "
                      "posterior (flat vectors, Gaussian likelihood)")
class LinearGaussianVAE(Model):
    def __init__(self, x_dim: int | LinearGaussianConfig = 6, z_dim: int = 3,
                 posterior: str = "diagonal") -> None:
        if isinstance(x_dim, LinearGaussianConfig):
            c = x_dim
            x_dim, z_dim, posterior = math.prod(c.x_shape), c.latent, c.posterior
        assert isinstance(x_dim, int)
        self.config = LinearGaussianConfig((x_dim,), latent=z_dim, posterior=posterior)
        full = posterior == "full"
        super().__init__((x_dim,), z_dim, Capabilities(
            gaussian_posterior=not full, standard_normal_prior=True, analytic_kl=not full,
            simulates_data=True))
        self.encoder = AffineFullGaussian(x_dim, z_dim) if full else AffineGaussian(x_dim, z_dim)
        self.decoder = AffineGaussian(z_dim, x_dim)
        self.standard_normal = StandardNormal(z_dim)

    # ---- the protocol -----------------------------------------------------------------------
    def posterior(self, x: torch.Tensor) -> Independent | MultivariateNormal:
        q = self.encoder(x)
        return q if isinstance(q, MultivariateNormal) else Independent(q, 1, validate_args=False)

    @property
    def prior(self) -> Independent:
        return self.standard_normal()

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).log_prob(x).sum(-1)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).loc

    @torch.no_grad()
    def sample_data(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).sample()

    # ---- parameters in closed-form notation -------------------------------------------------
    @property
    def W(self) -> torch.Tensor:
        return self.decoder.linear.weight  # [D, d]

    @property
    def b(self) -> torch.Tensor:
        return self.decoder.linear.bias

    @property
    def psi(self) -> torch.Tensor:
        """Observation noise variances, ``[D]``."""
        return self.decoder.std ** 2

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W W^T + diag psi)."""
        cov = self.W @ self.W.T + torch.diag(self.psi)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def exact_log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x), ``[B]``."""
        return self.marginal().log_prob(x)

    def posterior_covariance(self) -> torch.Tensor:
        """S = (I + W^T Psi^-1 W)^-1, the same for every x, ``[d, d]``."""
        W = self.W
        eye = torch.eye(W.shape[1], dtype=W.dtype, device=W.device)
        return torch.linalg.inv(eye + W.T @ (W / self.psi[:, None]))

    def exact_posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """p(z|x) = N(S W^T Psi^-1 (x - b), S), S = (I + W^T Psi^-1 W)^-1; batch ``[B]``."""
        W, psi, S = self.W, self.psi, self.posterior_covariance()
        mean = ((x - self.b) / psi) @ W @ S.T
        return MultivariateNormal(mean, covariance_matrix=S.expand(len(x), *S.shape))

    def closed_form_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """E_q[log p(x|z)] - KL(q(z|x) || p(z)) exactly, ``[B]``; differentiable in all params."""
        q = self.encoder(x)
        psi, mu = self.psi, q.loc
        resid = x - (mu @ self.W.T + self.b)
        if isinstance(q, MultivariateNormal):  # diag(W Sigma W^T), [B, D]
            trace = torch.einsum("ij,bjk,ik->bi", self.W, q.covariance_matrix, self.W)
            eye = torch.eye(mu.shape[-1], dtype=mu.dtype, device=mu.device)
            kl = kl_divergence(q, MultivariateNormal(torch.zeros_like(mu), eye))
        else:
            trace = q.scale ** 2 @ (self.W ** 2).T
            kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
        rec = -0.5 * (torch.log(2 * math.pi * psi) + (resid ** 2 + trace) / psi).sum(-1)
        return rec - kl

    @torch.no_grad()
    def set_q_to_posterior_diagonal(self) -> None:
        """Set q's linear map to the exact posterior mean and s to its marginal std devs.

        q is then exact when the posterior covariance is diagonal (W^T Psi^-1 W diagonal)."""
        S = self.posterior_covariance()
        A = S @ self.W.T / self.psi  # [d, D]
        self.encoder.linear.weight.copy_(A)
        self.encoder.linear.bias.copy_(-A @ self.b)
        self.encoder.raw_std.copy_(inverse_softplus(S.diagonal().sqrt() - MIN_STD))

    @torch.no_grad()
    def set_q_to_exact_posterior(self) -> None:
        """A full-covariance q set to p(z|x) itself: mean S W^T Psi^-1 (x - b), factor chol(S)."""
        if self.config.posterior != "full":
            raise ConfigError("the exact posterior has a full covariance: build the model with "
                              "posterior='full'")
        self.set_q_to_posterior_diagonal()
        L = torch.linalg.cholesky(self.posterior_covariance())
        rows, cols = torch.tril_indices(len(L), len(L), -1)
        encoder = cast(AffineFullGaussian, self.encoder)  # posterior == "full"
        encoder.raw_std.copy_(inverse_softplus(L.diagonal() - MIN_STD))
        encoder.lower.copy_(L[rows, cols])

    @torch.no_grad()
    def set_q_overdispersed(self, widen: float = 1.2, shift: float = 0.3) -> None:
        """q(z|x) = N(m(x) + shift * s, s^2 I), m(x) the exact posterior mean and
        s = widen * sqrt(lambda_max(S)) for the posterior covariance S. With widen > 1, q is wider
        than p(z|x) in every direction, so w = p(x,z)/q(z|x) is bounded and all its moments exist
        (a q narrower than p in some direction can make E_q[w^4] infinite)."""
        self.set_q_to_posterior_diagonal()
        s = widen * torch.linalg.eigvalsh(self.posterior_covariance()).max().sqrt()
        self.encoder.raw_std.fill_(float(inverse_softplus(s - MIN_STD)))
        self.encoder.linear.bias.add_(shift * s)
