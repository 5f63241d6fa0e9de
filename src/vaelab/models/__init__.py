"""Models: every one implements the protocol of :mod:`vaelab.models.base` and is registered by
name in ``MODELS`` (users' own classes are named by ``module:Class`` or ``file.py:Class``)."""

from vaelab.models.base import Capabilities, DecodedModel, Model
from vaelab.models.categorical_vae import CategoricalVAE, CategoricalVAEConfig
from vaelab.models.conv_vae import ConvVAE, ConvVAEConfig
from vaelab.models.factor_vae import FactorVAE, FactorVAEConfig
from vaelab.models.gated_vae import GatedVAE, GatedVAEConfig
from vaelab.models.layers import GaussianLayer, mlp
from vaelab.models.likelihoods import LIKELIHOODS, Likelihood, get_likelihood
from vaelab.models.linear_gaussian import LinearGaussianConfig, LinearGaussianVAE
from vaelab.models.pixelcnn_density import PixelCNNConfig, PixelCNNDensity
from vaelab.models.pixelvae import PixelVAE, PixelVAEConfig
from vaelab.models.registry import MODELS, build_model, from_spec, resolve_class, spec
from vaelab.models.sbn import SBN, SBNConfig
from vaelab.models.vae import VAE, VAEConfig
from vaelab.models.vqvae import VQVAE, VQConfig

__all__ = ["LIKELIHOODS", "MODELS", "SBN", "VAE", "VQVAE", "Capabilities", "CategoricalVAE",
           "CategoricalVAEConfig", "DecodedModel", "SBNConfig", "ConvVAE", "ConvVAEConfig",
           "FactorVAE", "FactorVAEConfig",
           "GatedVAE", "GatedVAEConfig", "GaussianLayer", "Likelihood", "LinearGaussianConfig",
           "LinearGaussianVAE", "Model",
           "PixelCNNConfig", "PixelCNNDensity", "PixelVAE", "PixelVAEConfig", "VAEConfig",
           "VQConfig", "build_model", "from_spec", "get_likelihood", "mlp", "resolve_class",
           "spec"]
