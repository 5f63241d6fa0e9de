import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.models import VAE, VAEConfig


@pytest.mark.parametrize("layers", [1, 2])
def test_log_weights_shapes_and_terms(layers):
    m = VAE(VAEConfig.burda(layers))
    x = torch.bernoulli(torch.full((4, 784), 0.2))
    lw = m.log_weights(x, 7)
    assert lw.log_w.shape == (7, 4) and lw.K == 7
    assert [z.shape for z in lw.z] == [(7, 4, d) for d in m.config.latent_dims]
    assert torch.allclose(lw.log_w, lw.log_px_z + lw.log_pz - lw.log_qz)
    assert (lw.log_px_z < 0).all()  # a Bernoulli likelihood is a probability


@pytest.mark.parametrize("layers", [1, 2])
def test_stopped_q_params_change_gradients_not_values(layers):
    m = VAE(VAEConfig.burda(layers))
    x = torch.bernoulli(torch.full((3, 784), 0.2))
    torch.manual_seed(1)
    a = m.log_weights(x, 5)
    torch.manual_seed(1)
    b = m.log_weights(x, 5, stop_q_params=True)
    assert torch.allclose(a.log_w, b.log_w)
    # log q with stopped params, at fixed z, has no gradient w.r.t. the encoder's parameters
    g = torch.autograd.grad(b.log_qz.sum(), list(m.encoder.parameters()), allow_unused=True,
                            retain_graph=True)
    path_grads = [t for t in g if t is not None]
    assert path_grads  # the path through z remains
    zs = [z.detach().requires_grad_() for z in b.z]
    assert zs


def test_no_reparameterization_blocks_the_path():
    m = VAE(VAEConfig.burda(1))
    x = torch.bernoulli(torch.full((3, 784), 0.2))
    lw = m.log_weights(x, 4, reparameterize=False)
    g = torch.autograd.grad(lw.log_px_z.sum(), list(m.encoder.parameters()), allow_unused=True)
    assert all(t is None for t in g)


def test_analytic_kl_matches_monte_carlo():
    m = VAE(VAEConfig.burda(1))
    x = torch.bernoulli(torch.full((2, 784), 0.2))
    with torch.no_grad():
        lw = m.log_weights(x, 50000)
        mc = (lw.log_qz - lw.log_pz).mean(0)
        se = (lw.log_qz - lw.log_pz).std(0) / 50000 ** 0.5
        assert ((mc - m.analytic_kl(x)).abs() < 4 * se).all()
    assert VAE(VAEConfig.burda(2)).analytic_kl(x) is None


def test_output_bias_starts_at_mean_image_logit():
    m = VAE(VAEConfig.burda(1))
    mean = torch.rand(784) * 0.8 + 0.1
    m.init_output_bias(mean)
    with torch.no_grad():
        m.decoder[0].net[-1].weight.zero_()
    assert torch.allclose(m.decode(torch.zeros(1, 50)).probs[0], mean, atol=1e-5)


def test_gaussian_decoder_and_sampling():
    m = VAE(VAEConfig.burda(2, x_dim=560, likelihood="gaussian"))
    x = torch.rand(3, 560)
    assert m.log_weights(x, 2).log_w.shape == (2, 3)
    assert m.sample(5).shape == (5, 560) and m.reconstruct(x).shape == (3, 560)


def test_bad_input_and_config():
    m = VAE(VAEConfig.burda(1))
    with pytest.raises(ConfigError, match=r"expects inputs of shape \[B, 784\]"):
        m.log_weights(torch.zeros(2, 100), 1)
    with pytest.raises(ConfigError, match="1 or 2"):
        VAEConfig.burda(3)
