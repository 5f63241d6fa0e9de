"""A stack of runs (``vaelab train-stack``): one complete run directory per grid point; the runs
with the first seed are exactly their solo runs; a stopped stack resumes exactly; a run of the
stack continues alone with ``vaelab train --resume``."""

import json

import pytest
import torch

import vaelab
from vaelab.cli.main import main
from vaelab.errors import ConfigError
from vaelab.training import RunConfig, load_checkpoint, load_run
from vaelab.training.stack_trainer import MANIFEST, train_stack

SMALL = dict(dataset="embedded", hidden=64, latent=8, eval_k=10, batch_size=200,
             objective="iwae", k=5)


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(run):
    t, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return {k: v for k, v in t.items() if k.startswith("model.")}


def test_each_grid_point_is_a_complete_run_and_first_seed_runs_equal_solo_runs(tmp_path):
    cfg = RunConfig.from_options({**SMALL, "epochs": 2})
    recs = train_stack(cfg, tmp_path / "stack", seeds=[0, 1], lrs=[1e-3, 3e-3], progress=False)
    names = ["seed0-lr0.001", "seed0-lr0.003", "seed1-lr0.001", "seed1-lr0.003"]
    assert list(recs) == names
    assert json.loads((tmp_path / "stack" / MANIFEST).read_text())["runs"] == names
    for name in names:
        run = tmp_path / "stack" / name
        assert [r["epoch"] for r in _metrics(run)] == [1, 2]
        loaded = load_run(run)
        assert loaded.config.runtime.seed == int(name[4]) and loaded.config.estimator.k == 5
        assert (run / "checkpoints" / "best.safetensors").is_file()
    for lr in (1e-3, 3e-3):
        solo = vaelab.train(out=tmp_path / f"solo{lr}", seed=0, lr=lr, epochs=2, progress=False,
                            **SMALL)
        mine = recs[f"seed0-lr{lr:g}"]
        for key in ("train_iwae_k5", "valid_L10"):
            assert mine[key] == pytest.approx(solo.record[key], abs=1e-3), key
        want, got = _weights(tmp_path / f"solo{lr}"), _weights(tmp_path / "stack" /
                                                              f"seed0-lr{lr:g}")
        for k in want:
            assert torch.allclose(want[k], got[k], atol=1e-4), k
    # another seed is another initialization (and so another run)
    assert recs["seed1-lr0.001"]["valid_L10"] != pytest.approx(recs["seed0-lr0.001"]["valid_L10"],
                                                               abs=1e-2)


def test_a_stopped_stack_resumes_exactly_and_its_runs_continue_alone(tmp_path):
    cfg = RunConfig.from_options({**SMALL, "epochs": 2})
    whole = train_stack(cfg, tmp_path / "a", seeds=[0, 1], lrs=[2e-3], progress=False)
    train_stack(RunConfig.from_options({"epochs": 1}, cfg), tmp_path / "b", seeds=[0, 1],
                lrs=[2e-3], progress=False)
    resumed = train_stack(None, tmp_path / "b", resume=True, changes={"epochs": 2},
                          progress=False)
    for name, rec in whole.items():
        assert resumed[name]["valid_L10"] == pytest.approx(rec["valid_L10"], abs=1e-4)
        assert [r["epoch"] for r in _metrics(tmp_path / "b" / name)] == [1, 2]
    # a run leaves the stack: its checkpoint holds its own Adam state and learning rate
    run = tmp_path / "b" / "seed1-lr0.002"
    assert main(["train", "--resume", "--out", str(run), "--epochs", "3", "--no-progress"]) == 0
    assert [r["epoch"] for r in _metrics(run)] == [1, 2, 3]
    assert _metrics(run)[-1]["lr"] == pytest.approx(2e-3)
    with pytest.raises(ConfigError, match="different epochs"):
        train_stack(None, tmp_path / "b", resume=True, changes={"epochs": 4}, progress=False)


def test_a_stack_interrupted_before_its_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    from vaelab.training import stack_trainer

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(stack_trainer._Stack, "_epoch", interrupted)
    cfg = RunConfig.from_options({**SMALL, "epochs": 1})
    with pytest.raises(KeyboardInterrupt):
        train_stack(cfg, tmp_path / "s", seeds=[0], lrs=[1e-3, 2e-3], progress=False)
    assert not (tmp_path / "s" / MANIFEST).exists()
    assert not any(p.is_file() for p in (tmp_path / "s").rglob("*") if p.name != ".lock")
    monkeypatch.undo()
    recs = train_stack(cfg, tmp_path / "s", seeds=[0], lrs=[1e-3, 2e-3], progress=False)
    assert len(recs) == 2  # the same command, again, trains
