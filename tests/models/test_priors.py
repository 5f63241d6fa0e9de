"""Learned priors: the VampPrior's density is the mean of the encoder's posteriors at the
pseudo-inputs, the mixture prior's a weighted sum of Gaussians (both checked against a direct
computation); both train, sample, and the information diagnostics use them (not N(0, I))."""

import math

import pytest
import torch
from torch.distributions import Normal

from vaelab.errors import ConfigError
from vaelab.eval import vae_information
from vaelab.models import build_model


def vae(prior: str, components: int = 7):
    torch.manual_seed(0)
    return build_model("vae", {"hidden": 16, "latent": 3, "prior": prior,
                               "components": components}, (1, 4, 4), "bernoulli")


def test_vampprior_density_is_the_mixture_of_posteriors_at_the_pseudo_inputs():
    m = vae("vamp")
    z = torch.randn(5, 2, 3)
    u = m.learned_prior.inputs().flatten(1)
    q = m.encoder[0](u)  # Normal, [7, 3]
    direct = torch.logsumexp(Normal(q.loc, q.scale).log_prob(z[..., None, :]).sum(-1), -1) \
        - math.log(7)
    assert torch.allclose(m.prior.log_prob(z), direct, atol=1e-5)
    assert not m.capabilities.standard_normal_prior and not m.capabilities.analytic_kl


def test_mixture_prior_density():
    m = vae("mog", 4)
    p = m.learned_prior
    with torch.no_grad():
        p.logits.copy_(torch.tensor([0.0, 1.0, -1.0, 2.0]))
    z = torch.randn(6, 3)
    comp = Normal(p.loc, torch.nn.functional.softplus(p.raw_scale) + 1e-4)
    direct = torch.logsumexp(comp.log_prob(z[:, None]).sum(-1)
                             + torch.log_softmax(p.logits, 0), -1)
    assert torch.allclose(m.prior.log_prob(z), direct, atol=1e-5)


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_learned_priors_train_sample_and_feed_the_diagnostics(prior):
    m = vae(prior)
    x = torch.bernoulli(torch.full((200, 1, 4, 4), 0.3))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in m.learned_prior.parameters()]
    for _ in range(20):
        lw = m.log_weights(x, 2)
        loss = -lw.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, m.learned_prior.parameters()))
    assert m.sample(5).shape == (5, 1, 4, 4)
    info = vae_information(m, x, n=200, samples=4)
    assert "kl_aggregate_prior" in info and "kl_aggregate_prior_layer1_prior_n01" not in info
    surgery = info["average_kl"]["value"] - info["kl_aggregate_prior"]["value"]
    assert info["mi_elbo_surgery"]["value"] == pytest.approx(surgery, abs=1e-6)


def test_learned_priors_need_one_layer_and_a_diagonal_posterior():
    for opts in ({"layers": 2, "prior": "vamp"}, {"posterior": "full", "prior": "mog"}):
        with pytest.raises(ConfigError, match="one stochastic layer"):
            build_model("vae", opts, (1, 4, 4), "bernoulli")


@pytest.mark.parametrize("model, opts", [("vae", {"hidden": 16, "latent": 3}),
                                         ("gatedvae", {"hidden": 8, "latent": 3})])
def test_vampprior_components_are_computed_once_per_weights_without_gradients(model, opts,
                                                                             monkeypatch):
    """Evaluation (no gradients) reuses the components while no weight changes (the same
    density); with gradients, or after a training step, they are computed again."""
    from vaelab.models.priors import VampPrior

    calls = []
    real = VampPrior._mixture
    monkeypatch.setattr(VampPrior, "_mixture", lambda self, enc: calls.append(1) or
                        real(self, enc))
    torch.manual_seed(0)
    m = build_model(model, {**opts, "prior": "vamp", "components": 5}, (1, 6, 6), "bernoulli")
    z = torch.randn(7, 3)
    with torch.no_grad():
        first = m.prior.log_prob(z)
        assert torch.equal(m.prior.log_prob(z), first) and len(calls) == 1
    fresh = m.prior.log_prob(z)  # gradients on: always computed
    assert len(calls) == 2 and torch.allclose(first, fresh.detach())
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    (-m.log_weights(torch.bernoulli(torch.full((4, 1, 6, 6), 0.3)), 1).mean()).backward()
    opt.step()
    with torch.no_grad():
        after = m.prior.log_prob(z)
        assert len(calls) == 4 and not torch.allclose(after, first)  # the weights moved
