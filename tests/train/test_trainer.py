import json
import os
import subprocess
import sys

import pytest
import torch

from vaelab.errors import ConfigError, DivergenceError
from vaelab.estimators.pathwise import Reparam
from vaelab.train import TrainConfig, load_checkpoint, load_run, train
from vaelab.train import trainer as trainer_mod

SMALL = dict(dataset="embedded", hidden=64, latent=8, eval_k=10, batch_size=200)


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_improves_the_bound_and_writes_a_run(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(model="iwae", k=5, epochs=4, **SMALL), run, progress=False)
    m = _metrics(run)
    assert m[-1]["valid_L10"] > m[0]["valid_L10"] + 5  # nats
    assert m[-1]["train_iwae_k5"] > m[0]["train_iwae_k5"]
    for f in ("config.json", "checkpoints/last.safetensors", "checkpoints/best.safetensors"):
        assert (run / f).is_file()
    assert any((run / "tb").iterdir())  # TensorBoard events
    loaded = load_run(run)
    assert loaded.model.config.latent_dims == [8]


def test_resume_continues_exactly(tmp_path):
    cfg = TrainConfig(model="vae", k=1, epochs=3, **SMALL)
    train(cfg, tmp_path / "a", progress=False)
    train(TrainConfig(model="vae", k=1, epochs=2, **SMALL), tmp_path / "b", progress=False)
    train(TrainConfig(model="vae", k=1, epochs=3, **SMALL), tmp_path / "b", resume=True,
          progress=False)
    ta, _ = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    tb, _ = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert _metrics(tmp_path / "a")[-1]["train_elbo_k1"] == _metrics(tmp_path / "b")[-1][
        "train_elbo_k1"]


def test_existing_run_needs_resume_or_overwrite(tmp_path):
    train(TrainConfig(epochs=1, **SMALL), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="--resume.*--overwrite"):
        train(TrainConfig(epochs=1, **SMALL), tmp_path, progress=False)
    train(TrainConfig(epochs=1, **SMALL), tmp_path, overwrite=True, progress=False)
    assert len(_metrics(tmp_path)) == 1


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    orig = Reparam.forward

    def poisoned(self, model, x):
        out = orig(self, model, x)
        calls["n"] += 1
        if calls["n"] > 40:  # second epoch (30 steps per epoch)
            out.surrogate = out.surrogate * float("nan")
        return out

    monkeypatch.setattr(Reparam, "forward", poisoned)
    with pytest.raises(DivergenceError, match="NaN/Inf in epoch 2.*last good checkpoint"):
        train(TrainConfig(epochs=3, **SMALL), tmp_path, progress=False)
    tensors, header = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
    assert header["meta"]["epoch"] == 1
    assert all(torch.isfinite(t.float()).all() for t in tensors.values())


def test_early_stopping(tmp_path, monkeypatch):
    vals = iter([-100.0, -101.0, -102.0, -90.0, -80.0])
    monkeypatch.setattr(trainer_mod, "evaluate_bounds",
                        lambda *a, **k: {"bounds": {10: next(vals)}})
    train(TrainConfig(epochs=5, patience=2, **SMALL), tmp_path, progress=False)
    assert len(_metrics(tmp_path)) == 3
    _, header = load_checkpoint(tmp_path / "checkpoints" / "best.safetensors")
    assert header["meta"]["epoch"] == 1


def test_burda_schedule():
    cfg = TrainConfig(schedule="burda", burda_stages=3)
    assert cfg.epochs == 1 + 3 + 9
    lrs = [cfg.lr_at(e) for e in range(cfg.epochs)]
    assert lrs[0] == 1e-3 and lrs[1] == lrs[3] == pytest.approx(1e-3 * 10 ** (-1 / 7))
    assert lrs[4] == lrs[12] == pytest.approx(1e-3 * 10 ** (-2 / 7))


def test_ddp_two_cpu_processes(tmp_path):
    """torchrun with two gloo processes: each rank takes half the data; the run improves."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "vaelab", "train", "--device", "cpu", "--epochs", "2", "--hidden", "64",
           "--latent", "8",
           "--eval-k", "10", "--batch-size", "100", "--out", str(tmp_path / "ddp"),
           "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    m = _metrics(tmp_path / "ddp")
    assert [x["epoch"] for x in m] == [1, 2]
    assert m[0]["step"] == 6000 // 2 // 100  # each rank: half the data per epoch
    assert m[1]["valid_L10"] > m[0]["valid_L10"]


def test_compiled_training_matches_eager(tmp_path):
    """--compile changes how the step runs, not what it computes: same seed, same trajectory."""
    cfg = dict(model="iwae", k=5, epochs=2, **SMALL)
    eager = train(TrainConfig(**cfg), tmp_path / "eager", progress=False)
    comp = train(TrainConfig(compile="default", **cfg), tmp_path / "compiled", progress=False)
    assert comp["train_iwae_k5"] == pytest.approx(eager["train_iwae_k5"], abs=0.05)
    assert comp["valid_L10"] == pytest.approx(eager["valid_L10"], abs=0.05)
    with pytest.raises(ConfigError, match="--compile"):
        TrainConfig(compile="fast")


def test_cosine_schedule():
    cfg = TrainConfig(schedule="cosine", epochs=10, lr=2e-3)
    lrs = [cfg.lr_at(e) for e in range(10)]
    assert lrs[0] == 2e-3 and lrs[5] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 1e-4


def test_time_limit_stops_cleanly_and_resume_finishes(tmp_path):
    cfg = dict(model="vae", k=1, epochs=3, **SMALL)
    rec = train(TrainConfig(time_limit=1e-6, **cfg), tmp_path, progress=False)
    assert rec["stopped"] == "time_limit" and len(_metrics(tmp_path)) == 1
    _, header = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
    assert header["meta"]["epoch"] == 1
    rec = train(TrainConfig(**cfg), tmp_path, resume=True, progress=False)
    assert "stopped" not in rec and [m["epoch"] for m in _metrics(tmp_path)] == [1, 2, 3]
    with pytest.raises(ConfigError, match="--time-limit"):
        TrainConfig(time_limit=-1)
