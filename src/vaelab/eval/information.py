"""Information diagnostics of a trained VAE under the encoder's joint p_data(x) q(z|x)
(the information theory itself, pure functions of tensors, is in :mod:`vaelab.info`).

Mutual information I(z; x), three ways (each as mean +- standard error over data points):

1. the lecture's form I >= H(z) + E[log q(z|x)] (an equality under the encoder's joint), with
   H(z) the entropy of the aggregate posterior q(z) = E_x q(z|x) by Monte Carlo and
   E[log q(z|x)] = -E_x H(q(z|x)) in closed form;
2. E_x KL(q(z|x) || q(z)) by Monte Carlo;
3. ELBO surgery (Hoffman & Johnson 2016): E_x KL(q(z|x)||p(z)) = I(z;x) + KL(q(z)||p(z)), with
   the average KL in closed form and KL(q(z)||p(z)) by Monte Carlo.

log q(z) is estimated by the mixture over the N data points, the point z was drawn for included:
with critic q(z|x) this is the InfoNCE bound, a lower bound on I in expectation and at most log N
(van den Oord et al. 2018; Poole et al. 2019). Leaving that point out gives the "L1Out" upper
bound, reported as ``mi_upper``; the truth lies between, and the two meet when N is large
relative to exp(I). For well-trained MNIST models with I > log N, the lower bound saturates at
log N: use more data points (``n``) to tighten it.
For models with two stochastic layers, I and the split refer to the first layer z_1 (whose q is
Gaussian); rate and distortion cover the whole model.

Under the *model's* joint p(z) p(x|z) the lecture's form is a genuine lower bound (Barber &
Agakov): ``generative_mi_bound`` draws (z, x) from the model and scores z with the encoder;
reported as ``mi_generative_lower`` for every model that can simulate data.
"""

from __future__ import annotations

import torch

from vaelab.distributions import gaussian_params
from vaelab.errors import ConfigError
from vaelab.eval.active_units import (
    ACTIVE_LABEL,
    ACTIVE_THRESHOLD,
    active_units,
    latent_activity,
    posterior_means,
)
from vaelab.info.continuous import mutual_information
from vaelab.models.base import Model
from vaelab.stats import Estimate, mean_se


@torch.no_grad()
def generative_mi_bound(model: Model, n: int = 2000, batch_size: int = 500) -> Estimate:
    """The lecture's bound under the *model's* joint (Barber & Agakov 2003):

        I_p(z; x) >= H(z) + E_{p(z) p(x|z)}[log q(z|x)] = E_{p(z) p(x|z)}[log q(z|x) - log p(z)]

    with z ~ p(z), x ~ p(x|z) (``sample_data``) and the encoder as the variational q; the gap is
    E_x KL(p(z|x) || q(z|x)) under the model's marginal, so it is tight iff the encoder is the
    exact posterior. Unlike the forms under the encoder's joint, this is a true bound on what
    the *generative model* puts into z. Mean +- standard error over the ``n`` draws; over the
    whole latent vector (every layer of a hierarchy). Needs ``capabilities.simulates_data``."""
    if not model.capabilities.simulates_data:
        raise ConfigError(f"the generative-joint bound draws x ~ p(x|z): "
                          f"{type(model).__name__} does not declare simulates_data")
    terms = []
    for i in range(0, n, batch_size):
        z = model.prior.sample((min(batch_size, n - i),))
        x = model.sample_data(z)
        terms.append((model.posterior(x).log_prob(z) - model.prior.log_prob(z)).double())
    return mean_se(torch.cat(terms))


@torch.no_grad()
def encoder_params(model: Model, data: torch.Tensor, batch_size: int = 1000):
    """q(z_1|x) location and scale for every row of ``data``, ``[N, d_1]`` each."""
    device = next(model.parameters()).device
    locs, scales = [], []
    for i in range(0, len(data), batch_size):
        loc, scale = gaussian_params(model.posterior(data[i:i + batch_size].to(device)))
        locs.append(loc)
        scales.append(scale)
    return torch.cat(locs), torch.cat(scales)


@torch.no_grad()
def rate_distortion(model: Model, data: torch.Tensor, batch_size: int = 500,
                    samples: int = 10) -> dict:
    """Rate E[KL(q(z|x) || p(z))] (closed form where the model declares it, else
    E_q[log q - log p]) and distortion -E[log p(x|z)], in nats; ELBO = -(rate + distortion)."""
    device = next(model.parameters()).device
    rates, dists = [], []
    for i in range(0, len(data), batch_size):
        x = data[i:i + batch_size].to(device)
        q = model.posterior(x)
        z = q.sample((samples,))
        kl = (model.analytic_kl(q) if model.capabilities.analytic_kl else
              (q.log_prob(z) - model.prior.log_prob(z)).mean(0))
        rates.append(kl)
        dists.append(-model.log_likelihood(x, z).mean(0))
    r, d = mean_se(torch.cat(rates)), mean_se(torch.cat(dists))
    return {"rate": r, "distortion": d, "elbo": -(r.value + d.value)}


@torch.no_grad()
def vae_information(model: Model, data: torch.Tensor, n: int = 2000,
                    samples: int = 4) -> dict:
    """All diagnostics for ``n`` data points: I(z;x) three ways, KL(q(z)||p(z)), per-dimension
    activity (and KL, for an N(0, I) prior), active units, rate and distortion. Needs a
    diagonal Gaussian q(z_1|x). KL terms are against the model's prior for one stochastic
    layer (learned mixtures and VampPriors included); for a hierarchy, p(z_1) has no closed
    form and they are against N(0, I), labelled ``_layer1_prior_n01``."""
    if not model.capabilities.gaussian_posterior:
        raise ConfigError(f"the information diagnostics need a diagonal Gaussian posterior; "
                          f"{type(model).__name__} does not declare one")
    x = data[:n]
    loc, scale = encoder_params(model, x)
    one_layer = len(model.latent_sizes) == 1
    log_prior = None
    if one_layer and not model.capabilities.standard_normal_prior:  # the model's own p(z)
        def log_prior(z):
            return model.prior.log_prob(z.to(loc.dtype))
    mi = mutual_information(loc, scale, samples, log_prior)
    means = posterior_means(model, x)
    units = [active_units(m, ACTIVE_THRESHOLD) for m in means]
    activity = latent_activity(model, x)
    out = {k: (v.to_dict() if isinstance(v, Estimate) else v) for k, v in mi.items()}
    out.update({
        "n_examples": len(x),
        # per dimension of z_1: the active-units statistic, its test, and (where the prior is
        # N(0, I) per dimension, the only case where it is defined) the KL to the prior
        "posterior_mean_variance": activity.variance.tolist(),
        "active_dimensions": activity.active.tolist(),
        **({"per_dimension_kl": activity.kl.tolist()} if activity.kl is not None else {}),
        "active_units": sum(u[0] for u in units),
        "active_units_per_layer": [u[0] for u in units],
        "active_units_definition": ACTIVE_LABEL,
        **{k: (v.to_dict() if isinstance(v, Estimate) else v)
           for k, v in rate_distortion(model, x).items()},
    })
    if model.capabilities.simulates_data:
        out["mi_generative_lower"] = generative_mi_bound(model, len(x)).to_dict()
    if not one_layer and not model.capabilities.standard_normal_prior:
        for k in ("mi_elbo_surgery", "kl_aggregate_prior", "average_kl"):
            out[k + "_layer1_prior_n01"] = out.pop(k)  # p(z_1) is not N(0, I) there
    return out
