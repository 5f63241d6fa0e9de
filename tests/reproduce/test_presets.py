"""Every paper preset builds its model, trains one step on real-shaped data, and states its
published number and citation; ``vaelab train --preset`` records the preset and the overrides."""

import json
import math

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.reproduce.presets import PRESETS, TABLES, get_preset, get_table
from vaelab.training.config import RunConfig
from vaelab.training.loop import EagerUpdate, Step
from vaelab.training.trainer import build_parts


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_builds_trains_one_step_and_cites_its_paper(name):
    p = get_preset(name)
    assert 75 < p.published < 95 and p.citation and p.data_note and p.eval_k == 5000
    assert p.options["dataset"] == "binarized_mnist"
    cfg = RunConfig.from_options({**p.options, "dataset": "embedded"})
    torch.manual_seed(0)
    parts = build_parts(cfg)
    x = parts.data.train[: cfg.optim.batch_size]
    step = Step(parts.model, parts.estimator, parts.objective.at_epoch(0))
    opt = torch.optim.Adam(step.parameters(), lr=cfg.optim.lr, eps=cfg.optim.adam_eps)
    before = [q.detach().clone() for q in step.parameters()]
    loss, bound = EagerUpdate(step, opt, normalize=cfg.optim.normalize_grads)(x)
    assert math.isfinite(float(loss)) and -2000 < float(bound) < 0
    moved = sum(not torch.equal(a, b) for a, b in zip(before, step.parameters()))
    assert moved >= len(before) - 1  # every parameter stepped (a VampPrior's too)


def test_tables_hold_the_papers_rows():
    burda = get_table("burda2015")
    assert len(burda.rows) == 10 and {p.options["batch_size"] for p in burda.rows} == {20}
    assert get_preset("burda2015/iwae-k50-l2").published == 82.90
    assert all(p.options["schedule"] == "burda" and p.checkpoint == "last" for p in burda.rows)
    tw = get_table("tomczak2018")
    assert [p.published for p in tw.rows] == [88.56, 85.57, 86.05, 83.19]
    assert all(p.options["normalize_grads"] and p.options["patience"] == 50 for p in tw.rows)
    assert set(TABLES) == {"burda2015", "tomczak2018"}


@pytest.mark.parametrize("name,match", [("nope", "no preset"),
                                        ("burda2015/vae-k2-l1", "has no row 'vae-k2-l1'"),
                                        ("tomczak", "no preset")])
def test_unknown_presets_are_one_line(name, match):
    with pytest.raises(ConfigError, match=match):
        get_preset(name)


def test_train_preset_records_preset_and_overrides(tmp_path, capsys):
    from vaelab.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--preset", "tomczak2018/vae-vamp", "--dataset", "embedded",
                 "--epochs", "1", "--hidden", "16", "--components", "7", "--out", str(out),
                 "--no-progress"]) == 0
    doc = json.loads((out / "config.json").read_text())
    assert doc["preset"]["name"] == "tomczak2018/vae-vamp"
    assert doc["preset"]["overrides"] == {"dataset": "embedded", "epochs": 1, "hidden": 16,
                                          "components": 7}
    assert doc["preset"]["published_nll"] == 85.57
    train = doc["train"]
    assert train["optim"]["lr"] == 5e-4 and train["optim"]["normalize_grads"] is True
    assert train["model"]["model_args"]["prior"] == "vamp"
    assert train["model"]["model_args"]["components"] == 7  # the override won
    # a resumed run keeps its preset record
    assert main(["train", "--resume", "--epochs", "2", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["preset"] == doc["preset"]
    assert main(["train", "--preset", "nope/x", "--out", str(tmp_path / "b")]) == 2
    assert "no preset" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
