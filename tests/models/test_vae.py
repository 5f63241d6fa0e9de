import pytest
import torch

from vaelab.distributions import GaussianChain, stop_gradient
from vaelab.errors import ConfigError
from vaelab.models import VAE, VAEConfig


def _x(n=4, shape=(1, 28, 28)):
    return torch.bernoulli(torch.full((n, *shape), 0.2))


def test_two_layer_posterior_and_prior_are_chains_scored_layer_by_layer():
    m = VAE(VAEConfig(layers=2))
    x = _x()
    q = m.posterior(x)
    assert isinstance(q, GaussianChain) and m.latent_sizes == (100, 50)
    z = q.rsample((3,))
    z1, z2 = z.split([100, 50], -1)
    manual = (m.encoder[0](x.flatten(1)).log_prob(z1).sum(-1)
              + m.encoder[1](z1).log_prob(z2).sum(-1))
    assert torch.allclose(q.log_prob(z), manual, atol=1e-4)
    top = torch.distributions.Normal(0.0, 1.0).log_prob(z2).sum(-1)
    prior = top + m.decoder[1](z2).log_prob(z1).sum(-1)
    assert torch.allclose(m.prior.log_prob(z), prior, atol=1e-4)
    assert (m.log_likelihood(x, z) < 0).all()  # a Bernoulli likelihood is a probability


@pytest.mark.parametrize("layers", [1, 2])
def test_stopped_q_params_change_gradients_not_values(layers):
    m = VAE(VAEConfig(layers=layers))
    x = _x(3)
    q = m.posterior(x)
    z = q.rsample((5,))
    qs = stop_gradient(q)
    assert torch.allclose(q.log_prob(z), qs.log_prob(z))
    enc = list(m.encoder.parameters())
    # at fixed z, log q with stopped parameters has no gradient w.r.t. the encoder ...
    assert not qs.log_prob(z.detach()).requires_grad
    assert q.log_prob(z.detach()).requires_grad
    # ... but the path through z remains
    g = torch.autograd.grad(qs.log_prob(z).sum(), enc, allow_unused=True)
    assert any(t is not None and float(t.abs().max()) > 0 for t in g)


def test_analytic_kl_is_declared_for_one_layer_only():
    assert VAE(VAEConfig(layers=1)).capabilities.analytic_kl
    assert not VAE(VAEConfig(layers=2)).capabilities.analytic_kl


def test_output_bias_starts_at_mean_image_logit():
    m = VAE(VAEConfig())
    mean = torch.rand(1, 28, 28) * 0.8 + 0.1
    m.init_from_data(mean)
    with torch.no_grad():
        m.decoder[0][-1].weight.zero_()
    assert torch.allclose(m.generate(torch.zeros(1, 50))[0], mean, atol=1e-5)


def test_gaussian_decoder_and_sampling_keep_the_image_shape():
    m = VAE(VAEConfig(layers=2, x_shape=(1, 28, 20), likelihood="gaussian"))
    x = torch.rand(3, 1, 28, 20)
    assert m.log_weights(x, 2).shape == (2, 3)
    assert m.sample(5).shape == (5, 1, 28, 20) and m.reconstruct(x).shape == (3, 1, 28, 20)


def test_bad_input_and_config():
    m = VAE(VAEConfig())
    with pytest.raises(ConfigError, match=r"expects inputs of shape \[B, 1, 28, 28\]"):
        m.log_weights(torch.zeros(2, 100), 1)
    with pytest.raises(ConfigError, match="1 or 2"):
        VAEConfig(layers=3)
    with pytest.raises(ConfigError, match="unknown likelihood"):
        VAEConfig(likelihood="poisson")
