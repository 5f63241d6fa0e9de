import json

import torch

import vaelab
from vaelab.estimators import score
from vaelab.eval.traverse import traversal
from vaelab.models.conv_vae import ConvVAE, ConvVAEConfig
from vaelab.objectives import elbo, make_objective


def test_beta_one_is_the_elbo_and_beta_weights_the_kl():
    m = ConvVAE(ConvVAEConfig(x_shape=(1, 28, 28), latent=4))
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.2))
    q = m.posterior(x)
    s = score(m, x, q.rsample((3,)), q)
    assert torch.allclose(make_objective("elbo", beta=1.0)(s), elbo(s.log_w))
    kl = (s.log_q - s.log_prior).mean(0)
    assert torch.allclose(make_objective("elbo", beta=4.0)(s), elbo(s.log_w) - 3 * kl, atol=1e-4)


def test_traversal_moves_only_the_chosen_dimension():
    m = ConvVAE(ConvVAEConfig(x_shape=(1, 28, 28), latent=4))
    with torch.no_grad():
        m.decoder["fc"][0].weight[:, 2] = 0  # the decoder ignores z_2
    x = torch.bernoulli(torch.full((1, 1, 28, 28), 0.2))
    img = traversal(m, x, dims=[0, 2], steps=5).view(2, 5, 784)
    assert (img[0] - img[0, :1]).abs().max() > 1e-3  # z_0 changes the image
    assert torch.allclose(img[1], img[1, :1].expand(5, -1))  # z_2 does not


def test_betavae_trains_on_shapes(tmp_path):
    vaelab.train(out=tmp_path, model="convvae", beta=4.0, dataset="shapes_small", epochs=3,
                 batch_size=64, eval_k=5, progress=False)
    m = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert m[-1]["valid_L5"] > m[0]["valid_L5"] + 20
