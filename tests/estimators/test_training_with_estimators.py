"""Training with each estimator on the embedded data improves the bound (1 and 2 layers)."""

import json

import pytest

import vaelab


@pytest.mark.parametrize("objective,estimator,baseline,k,layers", [
    ("elbo", "reparam", "none", 1, 1), ("iwae", "reparam", "none", 5, 2),
    ("elbo", "stl", "none", 1, 1), ("iwae", "dreg", "none", 5, 1), ("iwae", "dreg", "none", 5, 2),
    ("elbo", "score_function", "nvil", 1, 1), ("iwae", "score_function", "vimco", 5, 1),
])
def test_training_improves(tmp_path, objective, estimator, baseline, k, layers):
    extra = {"baseline": baseline} if estimator == "score_function" else {}
    vaelab.train(out=tmp_path, objective=objective, estimator=estimator, k=k, layers=layers,
                 epochs=3, hidden=64, latent=8, eval_k=10, batch_size=200, progress=False,
                 **extra)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["valid_L10"] > rows[0]["valid_L10"] + 2
