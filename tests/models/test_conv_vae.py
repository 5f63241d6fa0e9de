import json

import torch

from vaelab.eval.traverse import traversal
from vaelab.models.conv_vae import ConvVAE, ConvVAEConfig
from vaelab.objectives import elbo
from vaelab.objectives.kl_control import beta_elbo
from vaelab.train import TrainConfig, train


def test_beta_one_is_the_elbo_and_beta_weights_the_kl():
    m = ConvVAE(ConvVAEConfig(image_shape=(28, 28), latent=4))
    x = torch.bernoulli(torch.full((5, 784), 0.2))
    lw = m.log_weights(x, 3)
    assert torch.allclose(beta_elbo(lw, 1.0), elbo(lw.log_w))
    kl = (lw.log_qz - lw.log_pz).mean(0)
    assert torch.allclose(beta_elbo(lw, 4.0), elbo(lw.log_w) - 3 * kl, atol=1e-4)


def test_traversal_moves_only_the_chosen_dimension():
    m = ConvVAE(ConvVAEConfig(image_shape=(28, 28), latent=4))
    with torch.no_grad():
        m.decoder["fc"][0].weight[:, 2] = 0  # the decoder ignores z_2
    x = torch.bernoulli(torch.full((1, 784), 0.2))
    img = traversal(m, x, dims=[0, 2], steps=5).view(2, 5, 784)
    assert (img[0] - img[0, :1]).abs().max() > 1e-3  # z_0 changes the image
    assert torch.allclose(img[1], img[1, :1].expand(5, -1))  # z_2 does not


def test_betavae_trains_on_shapes(tmp_path):
    cfg = TrainConfig(model="betavae", beta=4.0, k=1, dataset="shapes_small", epochs=3,
                      batch_size=64, eval_k=5)
    train(cfg, tmp_path, progress=False)
    m = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert m[-1]["valid_L5"] > m[0]["valid_L5"] + 20
