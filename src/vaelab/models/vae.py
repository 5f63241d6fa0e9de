"""Gaussian VAEs with 1 or more stochastic layers (Burda et al. 2015 architectures).

Generative model p(z_L) p(z_{L-1}|z_L) ... p(x|z_1) with p(z_L) = N(0, I); inference network
q(z_1|x) q(z_2|z_1) ... each a diagonal Gaussian, sampled as z = mu + sigma * eps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.distributions import Distribution, Normal, kl_divergence

from vaelab.errors import ConfigError
from vaelab.models.layers import BernoulliLayer, GaussianLayer
from vaelab.models.log_weights import LogWeights

# Burda et al. (2015), appendix: hidden sizes per stochastic layer.
BURDA = {1: ([50], [[200, 200]]), 2: ([100, 50], [[200, 200], [100, 100]])}


@dataclass
class VAEConfig:
    """Architecture. ``hidden[l]`` are the deterministic layers between stochastic layers l-1, l
    (mirrored in the decoder). ``likelihood``: 'bernoulli' (binary data) or 'gaussian'."""

    x_dim: int = 784
    latent_dims: list[int] = field(default_factory=lambda: [50])
    hidden: list[list[int]] = field(default_factory=lambda: [[200, 200]])
    likelihood: str = "bernoulli"
    activation: str = "tanh"

    @classmethod
    def burda(cls, layers: int, **kw) -> VAEConfig:
        if layers not in BURDA:
            raise ConfigError(f"--layers must be 1 or 2 (Burda et al.), not {layers}")
        latent, hidden = BURDA[layers]
        return cls(latent_dims=list(latent), hidden=[list(h) for h in hidden], **kw)

    def __post_init__(self) -> None:
        if len(self.latent_dims) != len(self.hidden) or not self.latent_dims:
            raise ConfigError("latent_dims and hidden need one entry per stochastic layer")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ConfigError(f"likelihood must be bernoulli or gaussian, not {self.likelihood}")


class VAE(nn.Module):
    """A VAE/IWAE model; the objective (ELBO or L_K) is chosen by the estimator, not the model."""

    def __init__(self, config: VAEConfig, constant_std: bool = False) -> None:
        super().__init__()
        self.config = config
        c = config
        dims = [c.x_dim, *c.latent_dims]
        self.encoder = nn.ModuleList(
            GaussianLayer(dims[i], c.hidden[i], dims[i + 1], c.activation, constant_std)
            for i in range(len(c.latent_dims)))
        # decoder[i] maps z_{i+1} -> z_i (decoder[0] maps z_1 -> x)
        dec: list[nn.Module] = []
        for i in range(len(c.latent_dims)):
            h = list(reversed(c.hidden[i]))
            if i == 0 and c.likelihood == "bernoulli":
                dec.append(BernoulliLayer(dims[1], h, dims[0], c.activation))
            else:
                dec.append(GaussianLayer(dims[i + 1], h, dims[i], c.activation, constant_std))
        self.decoder = nn.ModuleList(dec)

    @property
    def n_layers(self) -> int:
        return len(self.config.latent_dims)

    def prior(self, batch_shape: torch.Size | tuple = ()) -> Normal:
        d = self.config.latent_dims[-1]
        p = next(self.parameters())
        zero = torch.zeros(*batch_shape, d, device=p.device, dtype=p.dtype)
        return Normal(zero, torch.ones_like(zero), validate_args=False)

    def encode(self, x: torch.Tensor) -> Normal:
        """q(z_1 | x), batch shape ``[B, d_1]``."""
        return self.encoder[0](x)

    def decode(self, z1: torch.Tensor) -> Distribution:
        """p(x | z_1) (Bernoulli with logits, or Normal)."""
        return self.decoder[0](z1)

    def log_weights(self, x: torch.Tensor, K: int = 1, *, reparameterize: bool = True,
                    stop_q_params: bool = False) -> LogWeights:
        """K samples z ~ q(z|x) per example and their log-weights, ``[K, B]``.

        reparameterize: False detaches the samples (score-function estimators).
        stop_q_params: log q(z|x) is evaluated with q's parameters cut from the graph while the
            path through z is kept (STL, Roeder et al. 2017; DReG, Tucker et al. 2019).
        """
        if x.ndim != 2 or x.shape[1] != self.config.x_dim:
            raise ConfigError(f"model expects inputs of shape [B, {self.config.x_dim}], got "
                              f"{tuple(x.shape)}")
        zs, qs = [], []
        h = x
        for i, layer in enumerate(self.encoder):
            q = layer(h)
            z = q.rsample((K,)) if i == 0 else q.rsample()  # [K, B, d_i]
            if not reparameterize:
                z = z.detach()
            qs.append(q)
            zs.append(z)
            h = z
        z_used = [z.view_as(z) for z in zs]  # distinct graph nodes: hooks here see only f's grad
        log_qz = 0.0
        for i, (q, z) in enumerate(zip(qs, z_used)):
            if stop_q_params:
                q = (Normal(q.loc.detach(), q.scale.detach(), validate_args=False) if i == 0
                     else self.encoder[i](z_used[i - 1], stop_params=True))
            log_qz = log_qz + q.log_prob(z).sum(-1)
        log_pz = self.prior().log_prob(z_used[-1]).sum(-1)
        for i in range(self.n_layers - 1, 0, -1):
            log_pz = log_pz + self.decoder[i](z_used[i]).log_prob(z_used[i - 1]).sum(-1)
        log_px_z = self.decode(z_used[0]).log_prob(x).sum(-1)
        return LogWeights(log_px_z, log_pz, log_qz, z_used, qs[0])

    def analytic_kl(self, x: torch.Tensor) -> torch.Tensor | None:
        """KL(q(z|x) || p(z)) in closed form, ``[B]``; None for more than one stochastic layer."""
        if self.n_layers != 1:
            return None
        q = self.encode(x)
        return kl_divergence(q, self.prior(q.batch_shape[:-1])).sum(-1)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """Means of p(x | z) for z ~ p(z): ``[n, x_dim]`` (probabilities for Bernoulli)."""
        z = self.prior((n,)).sample()
        for i in range(self.n_layers - 1, 0, -1):
            z = self.decoder[i](z).sample()
        return self.decode(z).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder mean at the posterior means of every layer."""
        h = x
        for layer in self.encoder:
            h = layer(h).loc
        for i in range(self.n_layers - 1, 0, -1):
            h = self.decoder[i](h).loc
        return self.decode(h).mean

    @torch.no_grad()
    def init_output_bias(self, mean_x: torch.Tensor) -> None:
        """Burda et al.: start the Bernoulli output bias at the logit of the mean image."""
        if isinstance(self.decoder[0], BernoulliLayer):
            self.decoder[0].init_bias(mean_x)

    def config_dict(self) -> dict:
        return {"kind": "vae", **asdict(self.config)}
