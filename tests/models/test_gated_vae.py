"""Tomczak & Welling's gated VAE and two-level HVAE, standard prior and VampPrior, against direct
computations: the log-weights written out from the paper's factorization, every density
integrating to one on a grid (one-dimensional levels), and the ancestral samplers' moments."""

import math

import pytest
import torch
from torch.distributions import Normal

from vaelab.models import build_model
from vaelab.reproduce.presets import get_preset


def make(levels=2, prior="vamp", latent=3, components=4):
    torch.manual_seed(0)
    m = build_model("gatedvae", {"levels": levels, "prior": prior, "hidden": 8,
                                 "latent": latent, "components": components}, (1, 4, 4),
                    "bernoulli")
    return m.eval()


def log_normal(z, q: Normal):
    return (-0.5 * ((z - q.loc) / q.scale) ** 2 - q.scale.log()
            - 0.5 * math.log(2 * math.pi)).sum(-1)


def vamp_log_prior(m, z2):
    """log (1/C) sum_c N(z2; mu(u_c), var(u_c)), written out: z2 [..., d] -> [...]."""
    comp = m.encoder[0](m.vamp.inputs().flatten(1))  # Normal [C, d]
    per = log_normal(z2[..., None, :], comp)           # [..., C]
    return torch.logsumexp(per, -1) - math.log(len(comp.loc))


def test_two_level_log_weights_equal_the_papers_factorization():
    m = make()
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.4), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(3)
    lw = m.log_weights(x, 6)
    torch.manual_seed(3)
    z = m.posterior(x).rsample((6,))
    z1, z2 = z.split(3, -1)
    xf = x.flatten(1)
    # q(z2|x) q(z1|x,z2)
    q2 = m.encoder[0](xf)
    q1 = m.encoder[2](m.encoder[1](xf, z2))
    log_q = log_normal(z2, q2) + log_normal(z1, q1)
    # p(z2) p(z1|z2) p(x|z1,z2)
    p1 = m.decoder[1](z2)
    logits = m.decoder[2](m.decoder[0](z1, z2))
    log_px = (xf * logits - torch.nn.functional.softplus(logits)).sum(-1)
    direct = vamp_log_prior(m, z2) + log_normal(z1, p1) + log_px - log_q
    assert torch.allclose(lw, direct, atol=1e-4)


def test_one_level_vamp_prior_is_the_mixture_of_posteriors_at_the_pseudo_inputs():
    m = make(levels=1)
    z = torch.randn(7, 3)
    assert torch.allclose(m.prior.log_prob(z), vamp_log_prior(m, z), atol=1e-5)
    u = m.pseudo_inputs()
    u = u.detach()
    assert u.shape == (4, 1, 4, 4) and 0 <= float(u.min()) and float(u.max()) <= 1


@pytest.mark.parametrize("prior", ["standard", "vamp"])
def test_two_level_prior_and_posterior_integrate_to_one(prior):
    """latent = 1 per level: p(z1, z2) and q(z1, z2 | x) on a 2-D grid sum to 1."""
    m = make(prior=prior, latent=1)
    g = torch.linspace(-16, 16, 1201)
    h = float(g[1] - g[0])
    z1, z2 = torch.meshgrid(g, g, indexing="ij")
    z = torch.stack([z1.flatten(), z2.flatten()], -1)  # [N, 2], layer 1 first
    with torch.no_grad():
        mass_p = m.prior.log_prob(z).exp().sum() * h * h
        x = torch.bernoulli(torch.full((1, 1, 4, 4), 0.4))
        q = m.posterior(x)
        mass_q = q.log_prob(z[:, None, :]).exp().sum() * h * h
    assert abs(float(mass_p) - 1) < 2e-3, float(mass_p)
    assert abs(float(mass_q) - 1) < 2e-3, float(mass_q)


def test_ancestral_samples_follow_the_densities():
    """E[z2] of prior draws is the mixture's mean; E[z1] is E[mu_p(z2)] (same draws' z2), within
    5 standard errors."""
    m = make()
    with torch.no_grad():
        z = m.prior.sample((40000,))
        z1, z2 = z.split(3, -1)
        comp = m.encoder[0](m.vamp.inputs().flatten(1))
        se2 = z2.std(0) / 200
        assert ((z2.mean(0) - comp.loc.mean(0)).abs() < 5 * se2).all()
        mu1 = m.decoder[1](z2).loc
        assert ((z1.mean(0) - mu1.mean(0)).abs() < 5 * z1.std(0) / 200).all()
        q = m.posterior(torch.ones(2, 1, 4, 4))
        zq = q.sample((40000,))
        assert ((zq[..., 3:].mean(0) - q.first.mean).abs() < 5 * zq[..., 3:].std(0) / 200).all()


def test_presets_build_the_papers_network():
    """The VampPrior HVAE preset is Tomczak & Welling's network: 300 gated units, 40 + 40
    latents, 500 pseudo-inputs starting at N(0.05, 0.01^2) (before the hard tanh)."""
    p = get_preset("tomczak2018/hvae-vamp")
    opts = {k: p.options[k] for k in ("levels", "prior", "hidden", "latent", "components")}
    torch.manual_seed(0)
    m = build_model("gatedvae", opts, (1, 28, 28), "bernoulli")
    assert m.latent_sizes == (40, 40) and m.encoder[0].net[0].h.out_features == 300
    raw = m.vamp.pseudo_inputs.detach()
    assert raw.shape == (500, 1, 28, 28)
    assert abs(float(raw.mean()) - 0.05) < 1e-3 and abs(float(raw.std()) - 0.01) < 1e-3
