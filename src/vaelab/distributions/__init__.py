"""Distributions the models and estimators need beyond ``torch.distributions``: stop-gradient
copies (STL, DReG), hierarchical Gaussian chains over a flat latent, the discretized logistic
for 8-bit data, point masses (deterministic posteriors), and discrete latents (Bernoulli layers,
one-hot groups) with their Gumbel-softmax relaxations."""

from vaelab.distributions.chain import GaussianChain
from vaelab.distributions.discrete import BernoulliChain, OneHotGroups, Relaxable
from vaelab.distributions.gaussian import diagonal_normal, gaussian_params
from vaelab.distributions.logistic import DiscretizedLogistic
from vaelab.distributions.point_mass import PointMass
from vaelab.distributions.stop_gradient import StopGradient, stop_gradient

__all__ = ["BernoulliChain", "DiscretizedLogistic", "GaussianChain", "OneHotGroups",
           "PointMass", "Relaxable", "StopGradient", "diagonal_normal", "gaussian_params",
           "stop_gradient"]
