"""Loggers: every one gets the configuration as parameters and each epoch's metrics; TensorBoard
also sample and reconstruction images at each validation; a logger that cannot start stops the
run in one line before anything is written; without TensorBoard installed a run still trains."""

import json
import sys
import types

import pytest

from vaelab.cli.main import main
from vaelab.training import callbacks

ARGS = ["train", "--dataset", "embedded", "--epochs", "2", "--hidden", "16", "--latent", "4",
        "--batch-size", "200", "--eval-k", "5", "--no-progress"]


class FakeMlflow(types.ModuleType):
    def __init__(self):
        super().__init__("mlflow")
        self.params, self.metrics, self.dicts, self.ended = {}, [], [], 0

    def start_run(self, run_name):
        self.run_name = run_name

    def log_params(self, d):
        assert len(d) <= 100
        self.params.update(d)

    def log_dict(self, d, name):
        self.dicts.append(name)

    def log_metrics(self, m, step):
        self.metrics.append((step, m))

    def end_run(self):
        self.ended += 1


def test_mlflow_gets_params_metrics_and_the_config(tmp_path, monkeypatch):
    fake = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    assert main([*ARGS, "--loggers", "mlflow", "--out", str(tmp_path / "r")]) == 0
    assert fake.params["optim.lr"] == "0.001" and fake.params["model.layers"] == "1"
    assert fake.params["model.hidden"] == "16" and fake.params["estimator.k"] == "1"
    assert [s for s, _ in fake.metrics] == [1, 2] and "valid_L5" in fake.metrics[-1][1]
    assert fake.dicts == ["config.json"] and fake.ended == 1


def test_tensorboard_gets_hparams_and_images(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "r"
    assert main([*ARGS, "--out", str(out)]) == 0
    ea = EventAccumulator(str(out / "tb"), size_guidance={"images": 0})
    ea.Reload()
    tags = ea.Tags()
    assert {"samples", "reconstructions"} <= set(tags["images"])
    assert len(ea.Images("samples")) == 2  # one grid per validation
    assert {"train_elbo_k1", "valid_L5", "valid_bound"} <= set(tags["scalars"])
    assert "hparams" in ea.PluginTagToContent("hparams") or ea.PluginTagToContent("hparams")


def test_image_logging_leaves_the_training_draws_alone(tmp_path, monkeypatch):
    """The same run with and without TensorBoard: identical metrics (images draw from their own
    random stream)."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*ARGS, "--out", str(a)]) == 0
    monkeypatch.setattr(callbacks, "tensorboard_available", lambda: False)
    monkeypatch.setattr(callbacks, "_warned_tensorboard", False)
    with pytest.warns(UserWarning, match="TensorBoard is not installed"):
        assert main([*ARGS, "--out", str(b)]) == 0
    assert not (b / "tb").exists()
    rows = [[{k: v for k, v in json.loads(line).items() if k != "epoch_seconds"}
             for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (a, b)]
    assert rows[0] == rows[1]


@pytest.mark.parametrize("resume", [False, True])
def test_a_logger_that_fails_to_start_is_one_line_and_leaves_nothing(tmp_path, monkeypatch,
                                                                     capsys, resume):
    class Broken(callbacks.Callback):
        def on_start(self, run_dir, config):
            raise ConnectionError("tracking server unreachable at http://localhost:5000")

    out = tmp_path / "r"
    if resume:
        assert main([*ARGS, "--out", str(out)]) == 0
        before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setitem(callbacks.LOGGERS, "mlflow", Broken)
    argv = ["train", "--resume", "--epochs", "3", "--loggers", "mlflow", "--out", str(out)] \
        if resume else [*ARGS, "--loggers", "mlflow", "--out", str(out)]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "failed to start" in err and "unreachable" in err
    if resume:  # the run is as it was
        after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert {k: v for k, v in after.items() if k not in ("config.json", ".lock")} == \
            {k: v for k, v in before.items() if k not in ("config.json", ".lock")}
    else:
        assert not out.exists()
