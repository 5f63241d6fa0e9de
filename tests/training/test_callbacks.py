"""Loggers are callbacks: the trainer calls each hook once per event, extra loggers are
optional packages (a clear error when missing), and a fake W&B receives every record."""

import sys
import types

import pytest

import vaelab
from vaelab.errors import ConfigError
from vaelab.training import Callback

SMALL = dict(hidden=16, latent=2, eval_k=2, batch_size=500, progress=False)


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_start(self, run_dir, config):
        self.events.append(("start", config["train"]["optim"]["epochs"]))

    def on_epoch_end(self, record):
        self.events.append(("epoch", record["epoch"]))

    def on_end(self, record):
        self.events.append(("end", record.get("epoch")))


def test_a_callback_sees_every_epoch_in_order(tmp_path):
    rec = Recorder()
    vaelab.train(out=tmp_path, epochs=2, callbacks=[rec], **SMALL)
    assert rec.events == [("start", 2), ("epoch", 1), ("epoch", 2), ("end", 2)]


def test_missing_logger_packages_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails
    with pytest.raises(ConfigError, match=r"pip install 'vaelab\[wandb\]'"):
        vaelab.train(out=tmp_path / "r", epochs=1, loggers=("wandb",), **SMALL)
    assert not (tmp_path / "r").exists()  # refused before anything was written
    with pytest.raises(ConfigError, match="unknown logger"):
        vaelab.train(out=tmp_path / "r", epochs=1, loggers=("neptune",), **SMALL)


def test_wandb_logger_logs_each_record(tmp_path, monkeypatch):
    logged = []

    class FakeRun:
        def log(self, values, step):
            logged.append((step, values))

        def finish(self):
            logged.append("finished")

    fake = types.SimpleNamespace(init=lambda **kw: FakeRun())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    vaelab.train(out=tmp_path, epochs=2, loggers=("wandb",), **SMALL)
    assert [s for s, _ in logged[:-1]] == [1, 2] and logged[-1] == "finished"
    assert "train_elbo_k1" in logged[0][1] and "valid_L2" in logged[0][1]
