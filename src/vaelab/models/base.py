"""The model protocol: every model in vaelab, built in or brought by a user, is a :class:`Model`.

A model is a joint p_theta(x, z) = p(z) p_theta(x | z) with an amortized posterior
q_phi(z | x)::

    x [B, *x_shape]  --posterior-->  q(z|x)  --estimator draws-->  z [K, B, D]
      --log_joint-->  log p(x, z) [K, B]  -->  log w = log p(x, z) - log q(z|x)  [K, B]
      -->  bounds, estimators, likelihoods, diagnostics

Latents are one flat vector of size ``D = latent_dim`` per example; a hierarchy concatenates its
layers (``latent_sizes``, layer 1 first). A subclass implements four things:

- ``posterior(x)``: q(z|x), a ``torch.distributions.Distribution`` with batch ``[B]`` and event
  ``[D]`` (``rsample`` for pathwise gradients; ``log_prob`` gives ``[..., B]``);
- ``prior``: p(z), a Distribution with event ``[D]``, scoring *any* z;
- ``log_likelihood(x, z)``: log p(x | z) for z ``[K, B, D]``, ``[K, B]``, at *any* z;
- ``generate(z)``: images ``[N, *x_shape]`` in [0, 1] from latents ``[N, D]`` (the decoder
  mean; a sample for autoregressive decoders).

Everything else (``log_joint``, ``log_weights``, ``sample``, ``reconstruct``) is implemented here
once. What a model can do beyond that is *declared* in :class:`Capabilities`, never probed.
Samples belong to the estimators (``vaelab.estimators``): models take no sampling flags.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Distribution, kl_divergence

from vaelab.errors import ConfigError

LATENT_KINDS = ("continuous", "discrete", "point_mass", "none")


@dataclass(frozen=True)
class AuxiliaryObjective:
    """A network trained beside the model on its own loss, with its own optimiser settings
    (RELAX's surrogate, a density-ratio discriminator). ``name`` keys the loss in the forward's
    ``side_losses``; ``parameters`` are stepped by Adam at ``lr`` on that loss alone (the main
    loss's gradient never reaches them), and are checkpointed and resumed with the run."""

    name: str
    parameters: tuple[nn.Parameter, ...]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class Capabilities:
    """Declared abilities of a model; consumers read these instead of probing.

    - ``latent``: "continuous" (q has ``rsample``; every estimator applies), "discrete" (z takes
      finitely many values; q is a :class:`~vaelab.distributions.Relaxable` distribution:
      score-function and relaxation estimators, and exact sums when ``latent_support_size()``
      is small), "point_mass" (q(z|x)
      is deterministic, e.g. VQ codes: log q = 0 and K > 1 adds nothing), or "none" (no latent:
      ``log_weights`` is the exact log p(x) for every sample).
    - ``gaussian_posterior``: q(z_1|x) is a diagonal Gaussian (read by
      ``vaelab.distributions.gaussian_params``): mutual information, aggregate-posterior and
      per-dimension diagnostics.
    - ``standard_normal_prior``: p(z) (for hierarchies: of the top layer) is N(0, I) per
      dimension: per-dimension KL, free bits, latent traversals over [-3, 3].
    - ``analytic_kl``: ``analytic_kl(q)`` = KL(q(z|x) || p(z)) in closed form.
    - ``auxiliary_loss``: ``auxiliary_loss(q)`` returns training-only losses ``[B]`` (VQ-VAE's
      codebook and commitment terms) that are not part of any bound.
    - ``autoregressive_decoder``: ``generate`` samples x given z (PixelCNN) instead of returning
      a mean.
    - ``discrete_data``: log p(x | z) is a probability mass (Bernoulli, 256 levels): bits/dim.
    - ``simulates_data``: ``sample_data(z)`` draws x ~ p(x | z), so (z, x) is an exact draw of
      the joint: bidirectional Monte Carlo (``vaelab.eval.bdmc``) needs it.
    - ``code_prior``: a prior over the model's discrete codes is fitted after training
      (``vaelab prior``: ``encode_codes``, ``code_shapes``), and ``set_code_prior(p)`` makes it
      the model's ``prior`` (a loaded run gets its fitted one).
    """

    latent: str = "continuous"
    gaussian_posterior: bool = False
    standard_normal_prior: bool = False
    analytic_kl: bool = False
    auxiliary_loss: bool = False
    autoregressive_decoder: bool = False
    discrete_data: bool = False
    simulates_data: bool = False
    code_prior: bool = False

    def __post_init__(self) -> None:
        if self.latent not in LATENT_KINDS:
            raise ConfigError(f"Capabilities.latent must be one of {', '.join(LATENT_KINDS)}, "
                              f"not {self.latent!r}")


class frozen:
    """Within: the model in evaluation mode with no parameter requiring gradients, for tools
    that differentiate in z only (HMC, local variational inference); restored on exit."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> nn.Module:
        self.training = self.model.training
        self.flags = [p.requires_grad for p in self.model.parameters()]
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        return self.model

    def __exit__(self, *exc) -> None:
        for p, f in zip(self.model.parameters(), self.flags):
            p.requires_grad_(f)
        self.model.train(self.training)


class Model(nn.Module, ABC):
    """Base class of every model (see the module docstring for the contract and shapes).

    Subclasses call ``super().__init__(x_shape, latent, capabilities)`` first. ``latent`` is the
    latent size, or a sequence of layer sizes for a hierarchy. The inference network's
    parameters (phi) are those of a submodule named ``encoder`` unless the subclass overrides
    :meth:`inference_parameters`; every other parameter is generative (theta).
    """

    capabilities: Capabilities = Capabilities()

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # the constructor's arguments, so that a run can rebuild this model (``spec``)
        object.__setattr__(self, "_init_args", (args, kwargs))
        return self

    def __init__(self, x_shape: Sequence[int], latent: int | Sequence[int],
                 capabilities: Capabilities | None = None) -> None:
        super().__init__()
        self.x_shape: tuple[int, ...] = tuple(int(s) for s in x_shape)
        sizes = (latent,) if isinstance(latent, int) else tuple(latent)
        self.latent_sizes: tuple[int, ...] = tuple(int(s) for s in sizes)
        self.latent_dim: int = sum(self.latent_sizes)
        if capabilities is not None:
            self.capabilities = capabilities
        if not self.x_shape or min(self.x_shape) < 1 or min(self.latent_sizes, default=0) < 0:
            raise ConfigError(f"{type(self).__name__}: x_shape {self.x_shape} and latent sizes "
                              f"{self.latent_sizes} must be positive")

    # ---- the four things a model defines --------------------------------------------------
    @abstractmethod
    def posterior(self, x: torch.Tensor) -> Distribution:
        """q(z | x): batch shape ``[B]``, event shape ``[D]``."""

    @property
    @abstractmethod
    def prior(self) -> Distribution:
        """p(z): event shape ``[D]``; ``log_prob`` of ``[..., D]`` is ``[...]``."""

    @abstractmethod
    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) for x ``[B, *x_shape]`` and z ``[K, B, D]``: ``[K, B]`` (nats)."""

    @abstractmethod
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``[N, *x_shape]`` in [0, 1] for latents ``[N, D]``."""

    # ---- implemented once for every model ---------------------------------------------------
    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(z) + log p(x | z), ``[K, B]``, at any latents z ``[K, B, D]``."""
        return self.prior.log_prob(z) + self.log_likelihood(x, z)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a one-line error unless x is ``[B, *x_shape]``."""
        if tuple(x.shape[1:]) != self.x_shape or x.ndim != len(self.x_shape) + 1:
            shape = ", ".join(map(str, self.x_shape))
            raise ConfigError(f"{type(self).__name__} expects inputs of shape [B, {shape}], got "
                              f"{list(x.shape)}; give data of the shape the model was built for")

    def log_weights(self, x: torch.Tensor, K: int = 1) -> torch.Tensor:
        """log w_k = log p(x, z_k) - log q(z_k | x) for K draws z_k ~ q(z|x): ``[K, B]``.

        The backbone of every bound: ``objectives.iwae_bound(log_weights(x, K))`` is L_K."""
        self.check_input(x)
        q = self.posterior(x)
        z = q.rsample((K,)) if q.has_rsample else q.sample((K,))
        return self.log_joint(x, z) - q.log_prob(z)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n images from the model: ``generate(z)``, z ~ p(z). ``[n, *x_shape]``."""
        return self.generate(self.prior.sample((n,)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``generate`` at the posterior mean of each x: ``[B, *x_shape]``."""
        return self.generate(self.posterior(x).mean)

    # ---- declared optional capabilities -----------------------------------------------------
    def analytic_kl(self, q: Distribution) -> torch.Tensor:
        """KL(q(z|x) || p(z)) in closed form, ``[B]`` (``capabilities.analytic_kl``); by default
        through the ``torch.distributions`` KL registry."""
        return kl_divergence(q, self.prior)

    def auxiliary_loss(self, q: Distribution) -> torch.Tensor | None:
        """Training-only losses ``[B]`` to *minimise* beside the objective, for the same q the
        estimator used (``capabilities.auxiliary_loss``); None for models without any."""
        return None

    def set_code_prior(self, code_prior) -> None:
        """Make a fitted prior over the model's discrete codes its prior
        (``capabilities.code_prior``: a VQ-VAE and the PixelCNN ``vaelab prior`` fits)."""
        raise NotImplementedError(f"{type(self).__name__} has no code prior to set")

    def latent_support_size(self) -> int | None:
        """How many values z can take (a discrete latent; an exact Python int, possibly huge),
        or None (continuous). Exact log p(x) and gradients sum over ``prior.enumerate_support()``
        when it is small."""
        return None

    def sample_data(self, z: torch.Tensor) -> torch.Tensor:
        """A draw x ~ p(x | z) for latents ``[N, D]``: ``[N, *x_shape]`` in the data's units
        (``capabilities.simulates_data``); with z ~ p(z), z is an exact posterior sample of x."""
        raise ConfigError(f"{type(self).__name__} does not simulate data: define "
                          "sample_data(z) (x ~ p(x|z)) and declare "
                          "Capabilities(simulates_data=True)")

    def training_diagnostics(self) -> dict[str, float]:
        """Numbers to log each epoch beside the bound (e.g. codebook perplexity); default none."""
        return {}

    def eval_max_samples(self) -> int | None:
        """A memory hint: how many (sample, example) pairs fit in one evaluation pass, or None
        for the evaluator's default (sized for MLP decoders)."""
        return None

    @torch.no_grad()
    def init_from_data(self, mean_x: torch.Tensor) -> None:
        """Start from the training data's mean image ``[*x_shape]`` (e.g. Burda et al.'s output
        bias); called once before training. Default: nothing."""

    def auxiliary_objectives(self) -> list[AuxiliaryObjective]:
        """Networks the model trains beside itself on their own losses (none by default)."""
        return []

    def side_losses(self, q: Distribution, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """The losses of the declared auxiliary objectives for a training batch, by name, from
        its posterior ``q`` and draws ``z`` ``[K, B, ...]`` (a discriminator on q(z) samples)."""
        return {}

    def inference_parameters(self) -> list[nn.Parameter]:
        """phi, the inference network's parameters: those of the submodule ``encoder``."""
        try:
            return list(self.get_submodule("encoder").parameters())
        except AttributeError:
            raise ConfigError(f"{type(self).__name__} has no submodule named 'encoder': name "
                              "its inference network so, or override inference_parameters()"
                              ) from None

    def generative_parameters(self) -> list[nn.Parameter]:
        """theta: every parameter that is not an inference parameter."""
        phi = {id(p) for p in self.inference_parameters()}
        return [p for p in self.parameters() if id(p) not in phi]

    def init_args(self) -> dict:
        """The keyword arguments this model was constructed with (positional ones named, and
        the constructor's defaults for those not given)."""
        args, kwargs = self.__dict__.get("_init_args", ((), {}))
        sig = inspect.signature(type(self).__init__)
        out: dict = {}
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()  # a run records every argument, its defaults included
        for name, value in bound.arguments.items():
            kind = sig.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                out.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    raise ConfigError(f"{type(self).__name__} was built with *args, which a run "
                                      "cannot record: pass its arguments by name")
            elif name != "self":
                out[name] = value
        return out


class DecodedModel(Model):
    """A model whose decoder gives a distribution over x: define ``decode(z)`` (z ``[..., D]``,
    the whole latent vector -> p(x | z) over ``[..., *x_shape]``) and the likelihood, the
    images and the simulated data follow from it."""

    @abstractmethod
    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x | z) for z ``[..., D]``: a distribution over ``[..., *x_shape]``."""

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z).log_prob(x)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean, clamped to [0, 1]."""
        return self.decode(z).mean.clamp(0, 1)

    @torch.no_grad()
    def sample_data(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z).sample()
