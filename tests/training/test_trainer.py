import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vaelab
from vaelab.errors import ConfigError, DivergenceError
from vaelab.estimators.pathwise import Reparam
from vaelab.training import OptimConfig, RunConfig, config_from_file, load_checkpoint, load_run
from vaelab.training import session as session_mod

SMALL = dict(dataset="embedded", hidden=64, latent=8, eval_k=10, batch_size=200, progress=False)


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_improves_the_bound_and_writes_a_run(tmp_path):
    run = tmp_path / "run"
    res = vaelab.train(out=run, objective="iwae", k=5, epochs=4, **SMALL)
    m = _metrics(run)
    assert m[-1]["valid_L10"] > m[0]["valid_L10"] + 5  # nats
    assert m[-1]["train_iwae_k5"] > m[0]["train_iwae_k5"]
    assert res.record == m[-1] and res.out == run
    for f in ("config.json", "checkpoints/last.safetensors", "checkpoints/best.safetensors"):
        assert (run / f).is_file()
    assert any((run / "tb").iterdir())  # TensorBoard events
    loaded = load_run(run)
    assert loaded.model.latent_sizes == (8,) and loaded.config.estimator.k == 5


def test_resume_continues_exactly(tmp_path):
    vaelab.train(out=tmp_path / "a", epochs=3, **SMALL)
    vaelab.train(out=tmp_path / "b", epochs=2, **SMALL)
    vaelab.train(out=tmp_path / "b", resume=True, epochs=3, progress=False)
    ta, _ = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.safetensors")
    tb, _ = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert _metrics(tmp_path / "a") == [
        {**r, "epoch_seconds": a["epoch_seconds"]}
        for r, a in zip(_metrics(tmp_path / "b"), _metrics(tmp_path / "a"))]


def test_resume_changes_what_may_change_and_refuses_the_rest(tmp_path):
    vaelab.train(out=tmp_path, epochs=1, **SMALL)
    with pytest.raises(ConfigError, match="cannot change --latent"):
        vaelab.train(out=tmp_path, resume=True, epochs=2, latent=4, progress=False)
    with pytest.raises(ConfigError, match="cannot change --objective"):
        vaelab.train(out=tmp_path, resume=True, epochs=2, objective="iwae", progress=False)
    with pytest.raises(ConfigError, match="cannot change --layers"):  # never set: its default
        vaelab.train(out=tmp_path, resume=True, epochs=2, layers=2, progress=False)
    vaelab.train(out=tmp_path, resume=True, epochs=2, lr=1e-4, latent=8, layers=1,
                 progress=False)  # the stored values are no change
    m = _metrics(tmp_path)
    assert [r["lr"] for r in m] == [1e-3, 1e-4]  # the new rate applies from the resumed epoch
    assert RunConfig.load(tmp_path).optim.lr == 1e-4


def test_existing_run_needs_resume_or_overwrite(tmp_path):
    vaelab.train(out=tmp_path, epochs=1, **SMALL)
    with pytest.raises(ConfigError, match="--resume.*--overwrite"):
        vaelab.train(out=tmp_path, epochs=1, **SMALL)
    vaelab.train(out=tmp_path, epochs=1, overwrite=True, **SMALL)
    assert len(_metrics(tmp_path)) == 1


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    orig = Reparam.forward

    def poisoned(self, model, x, objective):
        out = orig(self, model, x, objective)
        calls["n"] += 1
        if calls["n"] > 40:  # second epoch (30 steps per epoch)
            out.surrogate = out.surrogate * float("nan")
        return out

    monkeypatch.setattr(Reparam, "forward", poisoned)
    with pytest.raises(DivergenceError, match="NaN/Inf in epoch 2.*last good checkpoint"):
        vaelab.train(out=tmp_path, epochs=3, **SMALL)
    tensors, header = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
    assert header["meta"]["epoch"] == 1
    assert all(torch.isfinite(t.float()).all() for t in tensors.values())


def test_early_stopping(tmp_path, monkeypatch):
    vals = iter([-100.0, -101.0, -102.0, -90.0, -80.0])
    monkeypatch.setattr(session_mod, "evaluate_bounds",
                        lambda *a, **k: {"bounds": {10: next(vals)}})
    vaelab.train(out=tmp_path, epochs=5, patience=2, **SMALL)
    assert len(_metrics(tmp_path)) == 3
    _, header = load_checkpoint(tmp_path / "checkpoints" / "best.safetensors")
    assert header["meta"]["epoch"] == 1


def test_burda_schedule():
    cfg = OptimConfig(schedule="burda", burda_stages=3)
    assert cfg.epochs == 1 + 3 + 9
    lrs = [cfg.lr_at(e) for e in range(cfg.epochs)]
    assert lrs[0] == 1e-3 and lrs[1] == lrs[3] == pytest.approx(1e-3 * 10 ** (-1 / 7))
    assert lrs[4] == lrs[12] == pytest.approx(1e-3 * 10 ** (-2 / 7))
    with pytest.raises(ConfigError, match="burda runs .* = 13 epochs"):
        OptimConfig(schedule="burda", burda_stages=3, epochs=2)  # not silently 13
    assert OptimConfig(schedule="burda", burda_stages=3, epochs=13).epochs == 13


def _kill_processes_naming(text: str) -> None:
    """SIGKILL every process whose command line contains ``text`` (torchrun starts each rank in
    a session of its own, so killing torchrun's group leaves the ranks)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_ddp_two_cpu_processes(tmp_path):
    """torchrun with two gloo processes: each rank takes half the data; the run improves."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "vaelab", "train", "--device", "cpu", "--epochs", "2", "--hidden", "64",
           "--latent", "8",
           "--eval-k", "10", "--batch-size", "100", "--out", str(out),
           "--no-progress"]
    # output to a file, not a pipe: a rank left behind cannot hold the test open, and on a hang
    # torchrun and both ranks are killed
    log = tmp_path / "torchrun.log"
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        try:
            p.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _kill_processes_naming(str(out))
            p.wait()
            pytest.fail(f"torchrun did not finish in 300 s: {log.read_text()[-2000:]}")
    err = log.read_text()
    assert p.returncode == 0, err[-2000:]
    m = _metrics(out)
    assert [x["epoch"] for x in m] == [1, 2]
    assert m[0]["step"] == 6000 // 2 // 100  # each rank: half the data per epoch
    assert m[1]["valid_L10"] > m[0]["valid_L10"]


def test_compiled_training_matches_eager(tmp_path):
    """--compile changes how the step runs, not what it computes: same seed, same trajectory."""
    cfg = dict(objective="iwae", k=5, epochs=2, **SMALL)
    eager = vaelab.train(out=tmp_path / "eager", **cfg).record
    comp = vaelab.train(out=tmp_path / "compiled", compile="default", **cfg).record
    assert comp["train_iwae_k5"] == pytest.approx(eager["train_iwae_k5"], abs=0.05)
    assert comp["valid_L10"] == pytest.approx(eager["valid_L10"], abs=0.05)
    with pytest.raises(ConfigError, match="--compile"):
        RunConfig.from_options({"compile": "fast"})


def test_a_run_moves_between_compiled_and_eager_steps_on_resume(tmp_path):
    """--compile may change on --resume: the Adam state carries over both ways (a compiled run
    keeps a capturable Adam, an eager one a fused Adam) and the run continues where it was."""
    cfg = dict(objective="iwae", k=5, **SMALL)
    out = tmp_path / "run"
    vaelab.train(out=out, epochs=1, compile="default", **cfg)
    vaelab.train(out=out, resume=True, epochs=2, compile="", progress=False)
    last = vaelab.train(out=out, resume=True, epochs=3, compile="default", progress=False)
    ref = vaelab.train(out=tmp_path / "ref", epochs=3, **cfg)
    assert [r["epoch"] for r in _metrics(out)] == [1, 2, 3]
    assert last.record["valid_L10"] == pytest.approx(ref.record["valid_L10"], abs=0.5)


def test_cosine_schedule():
    cfg = OptimConfig(schedule="cosine", epochs=10, lr=2e-3)
    lrs = [cfg.lr_at(e) for e in range(10)]
    assert lrs[0] == 2e-3 and lrs[5] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < 1e-4


def test_time_limit_stops_cleanly_and_resume_finishes(tmp_path):
    rec = vaelab.train(out=tmp_path, epochs=3, time_limit=1e-6, **SMALL).record
    assert rec["stopped"] == "time_limit" and len(_metrics(tmp_path)) == 1
    _, header = load_checkpoint(tmp_path / "checkpoints" / "last.safetensors")
    assert header["meta"]["epoch"] == 1
    rec = vaelab.train(out=tmp_path, resume=True, time_limit=0.0, progress=False).record
    assert "stopped" not in rec and [m["epoch"] for m in _metrics(tmp_path)] == [1, 2, 3]
    with pytest.raises(ConfigError, match="--time-limit"):
        RunConfig.from_options({"time_limit": -1.0})


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_config_files_nested_or_flat_and_flags_override(tmp_path, suffix):
    if suffix == ".yaml":
        yaml = pytest.importorskip("yaml")
        dump = yaml.safe_dump
    else:
        dump = json.dumps
    nested = RunConfig.from_options({"objective": "iwae", "k": 3, "layers": 2, "lr": 5e-4})
    (tmp_path / f"nested{suffix}").write_text(dump(nested.to_dict()))
    (tmp_path / f"flat{suffix}").write_text(dump({"objective": "iwae", "k": 3, "layers": 2,
                                                 "lr": 5e-4}))
    for name in ("nested", "flat"):
        cfg = config_from_file(tmp_path / f"{name}{suffix}")
        assert cfg == nested
        over = RunConfig.from_options({"lr": 1e-2}, cfg)
        assert over.optim.lr == 1e-2 and over.estimator.k == 3
        assert over.model.model_args == {"layers": 2}
    (tmp_path / f"bad{suffix}").write_text(dump({"objective": "iwae", "warp": 9}))
    with pytest.raises(ConfigError, match="unknown option warp"):
        config_from_file(tmp_path / f"bad{suffix}")


def test_options_of_components_that_were_not_chosen_are_refused():
    with pytest.raises(ConfigError, match="--beta is an option of objective elbo, not of iwae"):
        RunConfig.from_options({"objective": "iwae", "beta": 2.0})
    with pytest.raises(ConfigError, match="--pixel-layers is an option of model"):
        RunConfig.from_options({"model": "vae", "pixel_layers": 3})
    with pytest.raises(ConfigError, match="objective, not a model.*--objective iwae"):
        RunConfig.from_options({"model": "iwae"})
    cfg = RunConfig.from_options({"model": "pixelvae", "pixel_layers": 3, "latent": 4})
    assert cfg.model.model_args == {"pixel_layers": 3, "latent": 4}


def test_a_run_written_by_version_0_1_is_refused_with_the_fix(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"train": {"model": "iwae", "k": 5, "layers": 1}, "model": {"kind": "vae"}}))
    with pytest.raises(ConfigError, match="written by vaelab 0.1.*--model vae --objective iwae"):
        load_run(tmp_path)


def test_auto_likelihood_takes_the_categorical_for_softmax_pixel_models(tmp_path):
    """8-bit data defaults to the discretized logistic; models with 256-way softmax pixels
    declare bernoulli|categorical, so `auto` gives them the categorical instead of an error,
    and an explicit --likelihood logistic is still refused in one line."""
    import numpy as np

    from vaelab.models.registry import supported_likelihoods

    assert supported_likelihoods("vqvae") == ("bernoulli", "categorical")
    assert supported_likelihoods("vae") is not None and "logistic" in supported_likelihoods("vae")
    imgs = np.random.default_rng(0).integers(0, 256, (60, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "grey.npz", x=imgs)
    run = vaelab.train(out=tmp_path / "vq", model="vqvae", dataset=str(tmp_path / "grey.npz"),
                       epochs=1, num_codes=8, code_dim=4, channels=8, eval_k=1, progress=False)
    assert run.model.config.likelihood == "categorical"
    with pytest.raises(ConfigError, match="logistic"):
        vaelab.train(out=tmp_path / "vq2", model="vqvae", dataset=str(tmp_path / "grey.npz"),
                     likelihood="logistic", epochs=1, progress=False)
