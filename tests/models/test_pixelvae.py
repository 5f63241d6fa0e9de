import json

import numpy as np
import pytest
import torch

import vaelab
from vaelab.estimators import score
from vaelab.models.pixelcnn_density import PixelCNNConfig, PixelCNNDensity
from vaelab.models.pixelvae import PixelVAE, PixelVAEConfig
from vaelab.objectives import ELBO, ELBOConfig, iwae_bound, make_objective

TINY = PixelVAEConfig(x_shape=(1, 8, 8), latent=4, pixel_layers=2, pixel_channels=8,
                      cond_channels=4, enc_channels=8)


def test_pixelvae_likelihood_is_the_pixelcnn_applied_directly():
    m = PixelVAE(TINY)
    x = torch.bernoulli(torch.full((3, 1, 8, 8), 0.3))
    z = m.posterior(x).rsample((5,))
    feats = m.decoder["features"](z.reshape(15, -1))
    direct = m.decoder["pixelcnn"].log_prob(x.repeat(5, 1, 1, 1), cond_map=feats).view(5, 3)
    assert torch.allclose(direct, m.log_likelihood(x, z))
    assert (m.log_likelihood(x, z) < 0).all()


def test_pixelcnn_density_bounds_are_exact():
    m = PixelCNNDensity(PixelCNNConfig(x_shape=(1, 6, 6), pixel_layers=2, pixel_channels=8))
    x = torch.bernoulli(torch.full((4, 1, 6, 6), 0.3))
    lw = m.log_weights(x, 7)
    assert torch.allclose(iwae_bound(lw), m.log_prob(x), atol=1e-5)
    assert torch.equal(m.reconstruct(x), x)


def test_free_bits_use_the_models_prior_and_stop_the_kl_gradient_below_lambda():
    m = PixelVAE(TINY)
    x = torch.bernoulli(torch.full((6, 1, 8, 8), 0.3))
    q = m.posterior(x)
    s = score(m, x, q.rsample((2,)), q)
    loc = q.base_dist.loc
    obj = make_objective("elbo", free_bits=100.0)(s).mean()
    g_mu = torch.autograd.grad(obj, loc, retain_graph=True)[0]
    g_rec = torch.autograd.grad(s.log_likelihood.mean(), loc, retain_graph=True)[0]
    assert torch.allclose(g_mu, g_rec, atol=1e-6)  # only the reconstruction term acts
    g_kl = torch.autograd.grad(make_objective("elbo", free_bits=0.01)(s).mean(), loc)[0]
    assert not torch.allclose(g_kl, g_rec)


def test_warmup_schedule_is_a_new_objective_per_epoch():
    obj = ELBO(ELBOConfig(beta=1.0, kl_warmup=4))
    assert [obj.at_epoch(e).kl_weight for e in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert obj.kl_weight == 1.0  # the original is unchanged: schedules are not state


def test_a_warmup_weight_on_a_device_is_the_same_objective():
    """Given a device, the warm-up's weight is a 0-dim tensor (a compiled step reads it as an
    input); the objective's value is the float-weighted one, and equals the ELBO at weight 1."""
    from vaelab.objectives.samples import Samples

    g = torch.Generator().manual_seed(0)
    q = torch.distributions.Normal(torch.zeros(3, 2), torch.ones(3, 2))
    s = Samples(torch.randn(4, 3, 2, generator=g), torch.randn(4, 3, generator=g),
                torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), q, q)
    obj = ELBO(ELBOConfig(beta=1.0, kl_warmup=4))
    for e in (0, 2, 5):
        on_device = obj.at_epoch(e, "cpu")
        assert torch.is_tensor(on_device.kl_weight) and on_device.kl_weight.ndim == 0
        assert torch.allclose(on_device(s), obj.at_epoch(e)(s))
    assert torch.allclose(obj.at_epoch(5, "cpu")(s), s.log_w.mean(0), atol=1e-6)
    want = s.log_likelihood.mean(0) - 0.5 * (s.log_q - s.log_prior).mean(0)
    assert torch.allclose(obj.at_epoch(1, "cpu")(s), want, atol=1e-6)
    # the score function's signal needs the plain ELBO at every epoch: a warm-up has none
    assert not obj.log_w_only and obj.learning_signal(s.log_w) is None


def _small_npz(tmp_path, n=300):
    d = vaelab.data.embedded()
    sub = {s: getattr(d, s)[:n, 0].numpy().astype(np.uint8) for s in ("train", "valid", "test")}
    path = tmp_path / "small.npz"
    np.savez(path, **sub)
    return str(path)


@pytest.mark.parametrize("model,extra", [
    ("pixelcnn", {}), ("pixelvae", {"latent": 4}),
    ("pixelvae", {"latent": 4, "free_bits": 0.5, "kl_warmup": 2}),
    ("pixelvae", {"latent": 4, "objective": "iwae", "k": 3}),
])
def test_training_tiny_pixel_models_improves(tmp_path, model, extra):
    vaelab.train(out=tmp_path / "run", model=model, dataset=_small_npz(tmp_path), epochs=2,
                 batch_size=100, pixel_layers=2, pixel_channels=8, eval_k=2, progress=False,
                 **extra)
    m = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
         .splitlines()]
    assert m[-1]["valid_L2"] > m[0]["valid_L2"] + 1
