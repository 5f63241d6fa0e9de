"""A linear-Gaussian latent variable model (factor analysis) with everything in closed form.

p(z) = N(0, I), p(x|z) = N(W z + b, diag psi), q(z|x) = N(A x + c, diag s^2).
Then p(x) = N(b, W W^T + diag psi) and p(z|x) is Gaussian: the reference for tests of bounds,
likelihood estimates, gradient estimators and information diagnostics.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaelab.models.vae import VAE, VAEConfig


class LinearGaussianVAE(VAE):
    def __init__(self, x_dim: int, z_dim: int) -> None:
        super().__init__(VAEConfig(x_dim=x_dim, latent_dims=[z_dim], hidden=[[]],
                                   likelihood="gaussian"), constant_std=True)

    # parameters in closed-form notation
    @property
    def W(self) -> torch.Tensor:
        return self.decoder[0].net[0].weight  # [D, d]

    @property
    def b(self) -> torch.Tensor:
        return self.decoder[0].net[0].bias

    @property
    def psi(self) -> torch.Tensor:
        """Observation noise variances, ``[D]``."""
        return self.decoder[0](torch.zeros(1, self.config.latent_dims[0])).scale[0] ** 2

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
        return torch.linalg.inv(torch.eye(W.shape[1], dtype=W.dtype)
                                + W.T @ (W / self.psi[:, None]))

    def exact_posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """p(z|x) = N(S W^T Psi^-1 (x - b), S), S = (I + W^T Psi^-1 W)^-1; batch ``[B]``."""
        W, psi, S = self.W, self.psi, self.posterior_covariance()
        mean = ((x - self.b) / psi) @ W @ S.T
        return MultivariateNormal(mean, covariance_matrix=S.expand(len(x), *S.shape))

    def closed_form_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """E_q[log p(x|z)] - KL(q(z|x) || p(z)) exactly, ``[B]``; differentiable in all params."""
        q = self.encode(x)
        mu, var = q.loc, q.scale ** 2
        psi = self.psi
        resid = x - (mu @ self.W.T + self.b)
        trace = var @ (self.W ** 2).T  # diag(W diag(var) W^T), [B, D]
        rec = -0.5 * (torch.log(2 * math.pi * psi) + (resid ** 2 + trace) / psi).sum(-1)
        kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
        return rec - kl

    @torch.no_grad()
    def set_q_to_posterior_diagonal(self) -> None:
        """Set q's linear map to the exact posterior mean and s to its marginal std devs.

        q is then exact when the posterior covariance is diagonal (W^T Psi^-1 W diagonal)."""
        S = self.posterior_covariance()
        A = S @ self.W.T / self.psi  # [d, D]
        enc = self.encoder[0]
        enc.net[0].weight.copy_(A)
        enc.net[0].bias.copy_(-A @ self.b)
        std = S.diagonal().sqrt() - 1e-4
        enc.raw_std.copy_(torch.log(torch.expm1(std)))  # inverse softplus

    @torch.no_grad()
    def set_q_overdispersed(self, widen: float = 1.2, shift: float = 0.3) -> None:
        """q(z|x) = N(m(x) + shift * s, s^2 I), m(x) the exact posterior mean and
        s = widen * sqrt(lambda_max(S)) for the posterior covariance S. With widen > 1, q is wider
        than p(z|x) in every direction, so w = p(x,z)/q(z|x) is bounded and all its moments exist
        (a q narrower than p in some direction can make E_q[w^4] infinite)."""
        self.set_q_to_posterior_diagonal()
        s = widen * torch.linalg.eigvalsh(self.posterior_covariance()).max().sqrt()
        enc = self.encoder[0]
        enc.raw_std.fill_(float(torch.log(torch.expm1(s))))
        enc.net[0].bias.add_(shift * s)
