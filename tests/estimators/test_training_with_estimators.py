"""Training with each estimator on the embedded data improves the bound (1 and 2 layers)."""

import json

import pytest

from vaelab.train import TrainConfig, train


@pytest.mark.parametrize("model,estimator,baseline,k,layers", [
    ("vae", "reparam", "none", 1, 1), ("iwae", "reparam", "none", 5, 2),
    ("vae", "stl", "none", 1, 1), ("iwae", "dreg", "none", 5, 1), ("iwae", "dreg", "none", 5, 2),
    ("vae", "score_function", "nvil", 1, 1), ("iwae", "score_function", "vimco", 5, 1),
])
def test_training_improves(tmp_path, model, estimator, baseline, k, layers):
    cfg = TrainConfig(model=model, estimator=estimator, baseline=baseline, k=k, layers=layers,
                      epochs=3, hidden=64, latent=8, eval_k=10, batch_size=200)
    train(cfg, tmp_path, progress=False)
    m = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert m[-1]["valid_L10"] > m[0]["valid_L10"] + 2
