"""FactorVAE: the permutation gives draws of the product of the marginals, the discriminator's
logit recovers the closed-form total correlation of a correlated Gaussian (the density-ratio
trick), and in training the discriminator learns on its own group while every bound stays the
VAE's."""

import json
import math

import numpy as np
import pytest
import torch

import vaelab
from vaelab.errors import ConfigError
from vaelab.models import build_model
from vaelab.models.factor_vae import FactorVAEConfig, permute_dims
from vaelab.training.checkpoint import load_latest


def test_permuting_dimensions_keeps_each_marginal_and_breaks_the_dependence():
    torch.manual_seed(0)
    x = torch.randn(4000, 1)
    z = torch.cat([x, x + 0.1 * torch.randn(4000, 1), torch.arange(4000.0)[:, None]], 1)
    p = permute_dims(z)
    for j in range(3):
        assert torch.equal(p[:, j].sort().values, z[:, j].sort().values)
    assert torch.corrcoef(z[:, :2].T)[0, 1] > 0.99
    assert abs(float(torch.corrcoef(p[:, :2].T)[0, 1])) < 0.06


def test_the_discriminator_recovers_the_total_correlation_of_a_gaussian():
    """z ~ N(0, [[1, rho], [rho, 1]]): TC = -log(1 - rho^2) / 2 (0.511 nats at rho = 0.8). The
    model's own discriminator, trained on its side loss alone, estimates it within 0.1."""
    torch.manual_seed(0)
    rho = 0.8
    m = build_model("factorvae", {"latent": 2, "channels": 4, "hidden": 16, "disc_hidden": 64,
                                  "disc_layers": 2}, (1, 8, 8), "bernoulli")
    (aux,) = m.auxiliary_objectives()
    opt = torch.optim.Adam(aux.parameters, lr=3e-3, betas=aux.betas)
    chol = torch.tensor([[1.0, 0.0], [rho, math.sqrt(1 - rho ** 2)]])
    for _ in range(1500):
        z = torch.randn(512, 2) @ chol.T
        loss = m.side_losses(None, z[None])[aux.name]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        est = float(m.tc_logit(torch.randn(20000, 2) @ chol.T).mean())
        indep = float(m.tc_logit(torch.randn(20000, 2)).mean())
    assert est == pytest.approx(-0.5 * math.log(1 - rho ** 2), abs=0.1)
    assert indep < 0  # on the product of the marginals: E[a] = -KL(prod || q) < 0


def test_bad_settings_are_refused():
    for bad in ({"tc_gamma": -1.0}, {"disc_layers": 0}, {"disc_lr": 0.0}):
        with pytest.raises(ConfigError):
            FactorVAEConfig(x_shape=(1, 8, 8), **bad)


def test_training_steps_the_discriminator_on_its_own_group(tmp_path):
    rng = np.random.default_rng(0)
    imgs = (rng.random((300, 1, 8, 8)) < 0.3).astype(np.uint8)
    data = tmp_path / "d.npz"
    np.savez(data, train=imgs[:200], valid=imgs[200:250], test=imgs[250:])
    out = tmp_path / "run"
    vaelab.train(out=out, model="factorvae", dataset=str(data), latent=3, channels=4, hidden=16,
                 disc_hidden=8, epochs=2, batch_size=50, eval_k=5, progress=False)
    tensors, header, _ = load_latest(out / "checkpoints" / "last.safetensors")
    assert [g.get("aux") for g in header["optimizer"]["param_groups"]] == \
        [None, "factorvae_discriminator"]
    assert header["optimizer"]["param_groups"][1]["betas"] == [0.5, 0.9]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["valid_L5"]) for r in rows)
    run = vaelab.load_run(out)
    x = run.split("test")
    assert math.isfinite(float(run.model.total_correlation(x)))
