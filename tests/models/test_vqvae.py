import itertools
import json
import math

import numpy as np
import pytest
import torch

import vaelab
from vaelab.eval.likelihood import evaluate_bounds
from vaelab.models.code_prior import CodePrior, PriorConfig
from vaelab.models.vqvae import VQVAE, VQConfig
from vaelab.training import load_run
from vaelab.training.prior import fit_prior, vq_bound


@pytest.mark.parametrize("hierarchical", [False, True])
def test_vqvae_contract_and_round_trip(hierarchical):
    m = VQVAE(VQConfig(num_codes=16, code_dim=8, channels=16, hierarchical=hierarchical))
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.2))
    q = m.posterior(x)
    z = q.rsample((1,))
    n = sum(h * w for h, w in m.code_shapes())
    assert torch.allclose(m.prior.log_prob(z), torch.full((1, 3), -n * math.log(16)))
    assert torch.equal(q.log_prob(z), torch.zeros(1, 3))  # one-hot q: log q = 0
    assert m.auxiliary_loss(q).shape == (3,) and (m.log_likelihood(x, z) < 0).all()
    assert [tuple(lv.indices.shape[1:]) for lv in q.levels] == m.code_shapes()
    from_indices = m.generate(m.codes_to_latent([lv.indices for lv in q.levels]))
    assert torch.allclose(from_indices, m.generate(z[0]), atol=1e-5)  # decode(indices) ==
    # decode(quantized output)


def test_code_prior_is_normalised_per_class():
    torch.manual_seed(0)
    p = CodePrior(PriorConfig(num_codes=3, code_shapes=((2, 2),), label_sizes=(2,), layers=2,
                              channels=8, embed_dim=4))
    codes = torch.tensor(list(itertools.product(range(3), repeat=4))).view(-1, 2, 2)
    with torch.no_grad():
        for c in (0, 1):
            lab = torch.full((len(codes),), c)
            assert math.isclose(float(p.log_prob([codes], lab).exp().sum()), 1.0, rel_tol=1e-5)
    s = p.sample(4)
    assert s[0].shape == (4, 2, 2) and int(s[0].max()) < 3


def test_code_prior_conditioned_on_several_factors_is_normalised_per_combination():
    """Factor labels [B, F] (colour shapes): one one-hot per factor, concatenated; every
    combination gives a normalised distribution over code maps, and they differ."""
    torch.manual_seed(0)
    p = CodePrior(PriorConfig(num_codes=2, code_shapes=((2, 2),), label_sizes=(2, 3),
                              layers=2, channels=8, embed_dim=4))
    with torch.no_grad():
        for prm in p.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
    codes = torch.tensor(list(itertools.product(range(2), repeat=4))).view(-1, 2, 2)
    dists = []
    with torch.no_grad():
        for a, b in itertools.product(range(2), range(3)):
            lab = torch.tensor([[a, b]]).expand(len(codes), 2)
            lp = p.log_prob([codes], lab)
            assert math.isclose(float(lp.exp().sum()), 1.0, rel_tol=1e-5)
            dists.append(lp)
    assert float((dists[0] - dists[-1]).abs().max()) > 1e-3  # the labels reach the prior
    s = p.sample(6)
    assert s[0].shape == (6, 2, 2)


def _small_npz(tmp_path, n=300):
    from vaelab.data import embedded

    d = embedded()
    path = tmp_path / "small.npz"
    np.savez(path, **{s: getattr(d, s)[:n, 0].numpy().astype(np.uint8)
                      for s in ("train", "valid", "test")})
    return str(path)


@pytest.mark.parametrize("model,ema", [("vqvae", False), ("vqvae", True), ("vqvae2", False)])
def test_training_vq_models_improves_and_prior_tightens_the_bound(tmp_path, model, ema):
    # EMA codebooks collapse early and recover through dead-code restarts: ~80 steps
    vaelab.train(out=tmp_path / "run", model=model, dataset=_small_npz(tmp_path, 800), epochs=5,
                 batch_size=50, num_codes=32, code_dim=8, channels=32, ema=ema, eval_k=1,
                 progress=False)
    m = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert m[-1]["valid_L1"] > m[0]["valid_L1"] + 5
    assert m[-1]["perplexity_0"] > 2 and 0 <= m[-1]["dead_codes_0"] < 32  # over the epoch
    if model == "vqvae2":
        run = load_run(tmp_path / "run")
        rep = fit_prior(run, tmp_path / "run", epochs=3, layers=2, channels=16, progress=False)
        assert rep["pixelcnn_prior"]["nll_bound"] < rep["uniform"]["nll_bound"]
        again = vq_bound(run.model, None, run.data.test)
        assert again["nll_bound"] == pytest.approx(rep["uniform"]["nll_bound"])
        assert (tmp_path / "run" / "prior.safetensors").is_file()
        # a loaded run's prior is the fitted one: the protocol's bound is the fitted bound
        fitted = load_run(tmp_path / "run")
        x = fitted.data.test
        lw = evaluate_bounds(fitted.model, x, ks=(1,))["bounds"][1]
        assert -lw == pytest.approx(rep["pixelcnn_prior"]["nll_bound"], rel=1e-4)
        assert fitted.model.sample(3).shape == (3, *x.shape[1:])
        fitted.model.set_code_prior(None)  # the uniform training prior again
        assert -evaluate_bounds(fitted.model, x, ks=(1,))["bounds"][1] == \
            pytest.approx(rep["uniform"]["nll_bound"], rel=1e-4)
