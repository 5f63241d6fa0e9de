"""A grid of runs (``vaelab train-stack``): one complete run directory per grid point; the runs
with the first seed are exactly their solo runs, in every stack of the grid; a stopped grid
resumes exactly; a run of it continues alone with ``vaelab train --resume``."""

import json

import pytest
import torch

import vaelab
from vaelab.cli.main import main
from vaelab.errors import ConfigError
from vaelab.training import RunConfig, load_checkpoint, load_run
from vaelab.training.stack_trainer import MANIFEST, parse_grid, run_name, train_stack

SMALL = dict(dataset="embedded", hidden=64, latent=8, eval_k=10, batch_size=200)
IWAE5 = dict(SMALL, objective="iwae", k=5)


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(run):
    t, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return {k: v for k, v in t.items() if k.startswith("model.")}


def test_each_grid_point_is_a_complete_run_and_first_seed_runs_equal_solo_runs(tmp_path):
    """seed x lr x K x objective: four stacks of four runs; in each stack the two runs with
    seed 0 are their solo runs (bounds and weights), the seed-1 runs are other runs."""
    cfg = RunConfig.from_options({**SMALL, "epochs": 2})
    grid = {"k": [1, 5], "objective": ["elbo", "iwae"], "seed": [0, 1], "lr": [1e-3, 3e-3]}
    recs = train_stack(cfg, tmp_path / "grid", grid, progress=False)
    assert list(recs)[:3] == ["k1_objective-elbo_seed0_lr0.001", "k1_objective-elbo_seed0_lr0.003",
                              "k1_objective-elbo_seed1_lr0.001"] and len(recs) == 16
    manifest = json.loads((tmp_path / "grid" / MANIFEST).read_text())
    assert manifest["runs"] == list(recs) and [len(s) for s in manifest["stacks"]] == [4] * 4
    for name in recs:
        run = tmp_path / "grid" / name
        assert [r["epoch"] for r in _metrics(run)] == [1, 2]
        loaded = load_run(run)
        assert f"seed{loaded.config.runtime.seed}_" in name
        assert f"k{loaded.config.estimator.k}_" in name
        assert (run / "checkpoints" / "best.safetensors").is_file()
    for k, objective, lr in [(5, "iwae", 1e-3), (1, "elbo", 3e-3), (5, "elbo", 3e-3)]:
        point = {"k": k, "objective": objective, "seed": 0, "lr": lr}
        solo = vaelab.train(out=tmp_path / "solo" / run_name(point), epochs=2, progress=False,
                            **SMALL, **point)
        mine = recs[run_name(point)]
        key = f"train_{objective}_k{k}"
        for metric in (key, "valid_L10"):
            assert mine[metric] == pytest.approx(solo.record[metric], abs=1e-3), (point, metric)
        want = _weights(tmp_path / "solo" / run_name(point))
        got = _weights(tmp_path / "grid" / run_name(point))
        for w in want:
            assert torch.allclose(want[w], got[w], atol=1e-4), (point, w)
    # another seed is another initialization (and so another run)
    a, b = recs["k5_objective-iwae_seed0_lr0.001"], recs["k5_objective-iwae_seed1_lr0.001"]
    assert a["valid_L10"] != pytest.approx(b["valid_L10"], abs=1e-2)


def test_runs_of_different_architectures_are_separate_stacks(tmp_path):
    cfg = RunConfig.from_options({**IWAE5, "epochs": 1})
    recs = train_stack(cfg, tmp_path / "g", {"layers": [1, 2], "seed": [0]}, progress=False)
    assert json.loads((tmp_path / "g" / MANIFEST).read_text())["stacks"] == [["layers1_seed0"],
                                                                            ["layers2_seed0"]]
    assert load_run(tmp_path / "g" / "layers2_seed0").model.latent_sizes != \
        load_run(tmp_path / "g" / "layers1_seed0").model.latent_sizes
    assert all(r["epoch"] == 1 for r in recs.values())


def test_grid_parsing_and_refusals():
    assert parse_grid(["k=1,5,50", "objective=elbo,iwae", "lr=1e-3"]) == {
        "k": [1, 5, 50], "objective": ["elbo", "iwae"], "lr": [1e-3]}
    for items, match in [(["k=1,x"], "not an integer"), (["k"], "NAME=V1"),
                         (["k=1", "k=2"], "twice"),
                         (["batch_size=100,200"], "share it"), (["dataset=a,b"], "share it"),
                         (["seed=0,0"], "repeats"), (["nope=1"], "no such option")]:
        with pytest.raises(ConfigError, match=match):
            parse_grid(items)


def test_a_stopped_stack_resumes_exactly_and_its_runs_continue_alone(tmp_path):
    cfg = RunConfig.from_options({**IWAE5, "epochs": 2, "lr": 2e-3})
    grid = {"seed": [0, 1], "k": [2, 3]}
    whole = train_stack(cfg, tmp_path / "a", grid, progress=False)
    train_stack(RunConfig.from_options({"epochs": 1}, cfg), tmp_path / "b", grid,
                progress=False)
    resumed = train_stack(None, tmp_path / "b", resume=True, changes={"epochs": 2},
                          progress=False)
    for name, rec in whole.items():
        assert resumed[name]["valid_L10"] == pytest.approx(rec["valid_L10"], abs=1e-4)
        assert [r["epoch"] for r in _metrics(tmp_path / "b" / name)] == [1, 2]
    # a run leaves the stack: its checkpoint holds its own Adam state and learning rate
    run = tmp_path / "b" / "seed1_k3"
    assert main(["train", "--resume", "--out", str(run), "--epochs", "3", "--no-progress"]) == 0
    assert [r["epoch"] for r in _metrics(run)] == [1, 2, 3]
    assert _metrics(run)[-1]["lr"] == pytest.approx(2e-3)
    with pytest.raises(ConfigError, match="different epochs"):
        train_stack(None, tmp_path / "b", resume=True, changes={"epochs": 4}, progress=False)


def test_a_stack_interrupted_before_its_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    from vaelab.training import stack_trainer

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(stack_trainer.StackStepper, "__call__", interrupted)
    cfg = RunConfig.from_options({**SMALL, "epochs": 1})
    grid = {"lr": [1e-3, 2e-3]}
    with pytest.raises(KeyboardInterrupt):
        train_stack(cfg, tmp_path / "s", grid, progress=False)
    assert not (tmp_path / "s" / MANIFEST).exists()
    assert not any(p.is_file() for p in (tmp_path / "s").rglob("*") if p.name != ".lock")
    monkeypatch.undo()
    recs = train_stack(cfg, tmp_path / "s", grid, progress=False)
    assert len(recs) == 2  # the same command, again, trains


def test_a_second_process_on_the_same_grid_is_refused_and_touches_nothing(tmp_path):
    """Two starts of one grid at once: the one that finds a run locked by the other is refused,
    and cleans up nothing of the other's (here: the config the holder wrote before its first
    checkpoint)."""
    from vaelab.training.rundir import RunDir

    cfg = RunConfig.from_options({**SMALL, "epochs": 1})
    holder = RunDir(tmp_path / "g" / "seed1")
    holder.lock()  # the other process, in its first epoch
    holder.write_config({"written by": "the other process"})
    try:
        with pytest.raises(ConfigError, match="being trained by another process"):
            train_stack(cfg, tmp_path / "g", {"seed": [0, 1]}, progress=False)
    finally:
        holder.unlock()
    assert json.loads(holder.config.read_text()) == {"written by": "the other process"}
    assert not (tmp_path / "g" / MANIFEST).exists()


def test_a_compiled_stack_through_a_kl_warmup_is_one_graph_and_the_eager_stack(tmp_path):
    """Two seeds stacked, compiled whole, through a two-epoch KL warm-up: the stack's step is
    one graph for every epoch (the warm-up's weight is an input, not a constant), and its runs
    train as the eager stack's do."""
    from torch._dynamo.utils import counters

    cfg = RunConfig.from_options({**SMALL, "epochs": 3, "kl_warmup": 2})
    eager = train_stack(cfg, tmp_path / "eager", {"seed": [0, 1]}, progress=False)
    counters.clear()
    compiled = train_stack(RunConfig.from_options({**SMALL, "epochs": 3, "kl_warmup": 2,
                                                   "compile": "default"}),
                           tmp_path / "compiled", {"seed": [0, 1]}, progress=False)
    assert counters["stats"]["unique_graphs"] == 1
    for name in eager:
        for metric in ("train_elbo_k1", "valid_L10"):
            assert compiled[name][metric] == pytest.approx(eager[name][metric], abs=2e-2), name
    counters.clear()  # and a solo run: one graph too, and the stack's first seed
    solo = vaelab.train(out=tmp_path / "solo", epochs=3, kl_warmup=2, compile="default",
                        progress=False, **SMALL)
    assert counters["stats"]["unique_graphs"] == 1
    assert solo.record["valid_L10"] == pytest.approx(compiled["seed0"]["valid_L10"], abs=2e-2)
