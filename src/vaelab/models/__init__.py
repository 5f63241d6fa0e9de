"""Models: each gives ``log_weights(x, K)`` -> :class:`LogWeights`, ``log_w`` of shape [K, B]."""

from vaelab.models.layers import BernoulliLayer, GaussianLayer, mlp
from vaelab.models.linear_gaussian import LinearGaussianVAE
from vaelab.models.log_weights import LogWeights
from vaelab.models.vae import VAE, VAEConfig

__all__ = ["VAE", "BernoulliLayer", "GaussianLayer", "LinearGaussianVAE", "LogWeights",
           "VAEConfig", "mlp"]
