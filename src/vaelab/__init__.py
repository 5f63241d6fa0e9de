"""vaelab: variational autoencoders with tight bounds, on PyTorch.

    import vaelab
    run = vaelab.train(model="vae", data="embedded", out="runs/x", objective="iwae", k=5)
    model = vaelab.load("runs/x")
    L = vaelab.iwae_bound(model.log_weights(x, K=5000))

Every model implements :class:`vaelab.Model` (see :mod:`vaelab.models.base`). Names are imported
on first use, so ``import vaelab`` (and the command line's start-up) stays light.
"""

from __future__ import annotations

import importlib

from vaelab._version import __version__

_WHERE = {
    "TrainResult": "vaelab.api", "as_dataset": "vaelab.api", "load": "vaelab.api",
    "load_run": "vaelab.api", "train": "vaelab.api",
    "MODELS": "vaelab.models", "VAE": "vaelab.models", "VQVAE": "vaelab.models",
    "Capabilities": "vaelab.models", "ConvVAE": "vaelab.models",
    "DecodedModel": "vaelab.models",
    "LinearGaussianVAE": "vaelab.models", "Model": "vaelab.models",
    "PixelCNNDensity": "vaelab.models", "PixelVAE": "vaelab.models",
    "effective_sample_size": "vaelab.objectives", "elbo": "vaelab.objectives",
    "grouped_iwae_bound": "vaelab.objectives", "iwae_bound": "vaelab.objectives",
    "make_objective": "vaelab.objectives",
}
_SUBPACKAGES = {"api", "cli", "data", "distributions", "errors", "estimators", "eval", "info",
                "memory", "models", "objectives", "registry", "reproduce", "stats", "training",
                "viz"}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"vaelab.{name}")
    else:
        raise AttributeError(f"module 'vaelab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBPACKAGES])
