"""vaelab: variational autoencoders with tight bounds, on PyTorch.

    import vaelab
    run = vaelab.train(model="vae", data="embedded", out="runs/x", objective="iwae", k=5)
    model = vaelab.load("runs/x")
    L = vaelab.iwae_bound(model.log_weights(x, K=5000))

Every model implements :class:`vaelab.Model` (see :mod:`vaelab.models.base`).
"""

from vaelab._version import __version__
from vaelab.api import TrainResult, as_dataset, load, load_run, train
from vaelab.models import (
    MODELS,
    VAE,
    VQVAE,
    Capabilities,
    ConvVAE,
    LinearGaussianVAE,
    Model,
    PixelCNNDensity,
    PixelVAE,
)
from vaelab.objectives import (
    effective_sample_size,
    elbo,
    grouped_iwae_bound,
    iwae_bound,
    make_objective,
)

__all__ = ["MODELS", "VAE", "VQVAE", "Capabilities", "ConvVAE", "LinearGaussianVAE", "Model",
           "PixelCNNDensity", "PixelVAE", "TrainResult", "__version__", "as_dataset",
           "effective_sample_size", "elbo", "grouped_iwae_bound", "iwae_bound", "load",
           "load_run", "make_objective", "train"]
