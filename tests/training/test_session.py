"""The engine's shared pieces: the epoch loop's stopping rules, the divergence verdict, and a
RunSession's order of writes (best checkpoint, last checkpoint with the record, metrics)."""

import json

import pytest
import torch

from vaelab.errors import DivergenceError
from vaelab.training.checkpoint import load_latest
from vaelab.training.config import RunConfig
from vaelab.training.progress import EpochProgress
from vaelab.training.rundir import RunDir
from vaelab.training.session import RunSession, divergence, epoch_loop


def _loop(epochs, stop_at=None, time_limit=0.0, agree=bool):
    seen = []

    def one(e):
        seen.append(e)
        return {}, e == stop_at

    bar = EpochProgress(0, epochs, enabled=False, speak=False)
    why = epoch_loop(0, epochs, one, time_limit=time_limit, bar=bar, resume="x", patience=3,
                     agree=agree)
    return why, seen


def test_epoch_loop_runs_every_epoch_and_stops_early_when_told():
    assert _loop(5) == (None, [0, 1, 2, 3, 4])
    assert _loop(5, stop_at=2) == ("early_stopping", [0, 1, 2])


def test_the_time_limit_stops_after_an_epoch_but_never_reports_the_last_one():
    # a limit already passed: stop after the first epoch; with one epoch there is nothing left
    assert _loop(5, time_limit=1e-9) == ("time_limit", [0])
    assert _loop(1, time_limit=1e-9) == (None, [0])


def test_every_process_agrees_before_the_loop_stops():
    # another process says "stop" although this one would not: all stop together
    assert _loop(4, agree=lambda flag: True)[0] == "early_stopping"
    assert _loop(4, stop_at=1, agree=lambda flag: False) == (None, [0, 1, 2, 3])


def test_divergence_names_each_run_and_the_way_back():
    e = divergence([("a", "NaN/Inf"), ("b", "bound below the floor")], 4, 4,
                   "vaelab train --resume --out g/NAME", "--lr ...")
    assert isinstance(e, DivergenceError)
    msg = str(e)
    assert "a: NaN/Inf; b: bound below the floor in epoch 5" in msg
    assert "(epoch 4) is kept" in msg and "`vaelab train --resume --out g/NAME --lr ...`" in msg
    first = str(divergence([("", "NaN/Inf")], 0, 0, "cmd", "--lr 0.0001"))
    assert first.startswith("NaN/Inf in epoch 1") and "no epoch finished" in first
    assert "(--lr 0.0001)" in first


def test_a_session_checkpoints_the_record_it_writes_to_the_metrics(tmp_path, monkeypatch):
    import vaelab.training.session as session_mod

    values = iter([-5.0, -6.0])
    monkeypatch.setattr(session_mod, "evaluate_bounds",
                        lambda *a, **k: {"bounds": {1: next(values)}})
    cfg = RunConfig.from_options({"epochs": 4, "eval_every": 2, "eval_k": 1, "patience": 1})
    model = torch.nn.Linear(3, 3)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    s = RunSession(cfg, run, model, torch.nn.Module(), warmup_epochs=0, binarize=False)
    opt = torch.optim.Adam(model.parameters())
    for epoch in range(4):
        rec = {"epoch": epoch + 1}
        if s.due(epoch):
            s.validate(epoch, torch.zeros(1, 3), rec)
        s.checkpoint(epoch, 10 * (epoch + 1), rec, opt, {"torch": torch.get_rng_state()})
    assert [s.due(e) for e in range(4)] == [False, True, False, True]
    lines = [json.loads(x) for x in run.metrics.read_text().splitlines()]
    _, header, _ = load_latest(run.last)
    assert lines[-1] == header["meta"]["record"] == {"epoch": 4, "valid_L1": -6.0}
    assert header["meta"]["epoch"] == 4 and header["meta"]["step"] == 40
    assert header["meta"]["best"] == -5.0 and header["meta"]["bad_evals"] == 1
    assert s.early.stop  # patience 1: one validation without a gain


@pytest.mark.parametrize("warmup, stops", [(0, True), (10, False)])
def test_no_early_stopping_while_the_objective_still_warms_up(tmp_path, monkeypatch, warmup,
                                                              stops):
    import vaelab.training.session as session_mod

    # a bound that never improves after the first validation
    monkeypatch.setattr(session_mod, "evaluate_bounds", lambda *a, **k: {"bounds": {1: -1.0}})
    cfg = RunConfig.from_options({"epochs": 20, "eval_every": 1, "eval_k": 1, "patience": 1})
    (tmp_path / "r").mkdir()
    s = RunSession(cfg, RunDir(tmp_path / "r"), torch.nn.Linear(2, 2), torch.nn.Module(),
                   warmup, False)
    for epoch in range(3):
        s.validate(epoch, torch.zeros(1, 2), {})
    assert s.early.stop is stops
