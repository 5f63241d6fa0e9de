"""Nothing is ever lost: kills at random moments, two writers, flipped bytes, Ctrl-C, divergence,
--overwrite that fails, memory that does not suffice.

The kill fuzz uses fixed seeds for the kill times (random.Random(trial)); every trial must end
with weights bit-identical to an uninterrupted run and the same metrics (epoch times aside).
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import vaelab
from vaelab.cli.main import main
from vaelab.errors import ConfigError, DivergenceError
from vaelab.training import load_checkpoint
from vaelab.training import trainer as trainer_mod

ARGS = ["--hidden", "16", "--latent", "3", "--eval-k", "2", "--batch-size", "100",
        "--no-progress"]
SMALL = dict(hidden=16, latent=3, eval_k=2, batch_size=100, progress=False)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _cmd(out: Path, epochs: int, resume: bool) -> list[str]:
    return [sys.executable, "-m", "vaelab", "train", "--epochs", str(epochs), "--out", str(out),
            *ARGS, *(["--resume"] if resume else [])]


def _metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(run: Path) -> dict:
    tensors, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


FUZZ_EPOCHS = 30


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    subprocess.run(_cmd(out, 6, False), check=True, env=ENV, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def fuzz_reference(tmp_path_factory):
    """An uninterrupted run, and how long it took (the range of the kill times)."""
    out = tmp_path_factory.mktemp("fuzzref") / "run"
    t0 = time.perf_counter()
    subprocess.run(_cmd(out, FUZZ_EPOCHS, False), check=True, env=ENV, capture_output=True,
                   timeout=600)
    return out, time.perf_counter() - t0


@pytest.mark.parametrize("trial", range(3))
def test_kill_fuzz_resume_is_bit_identical(tmp_path, fuzz_reference, trial):
    reference, seconds = fuzz_reference
    rng = random.Random(trial)
    out = tmp_path / "run"
    kills, scale = 0, 1.0
    for _ in range(12):
        resume = (out / "checkpoints").is_dir() and any((out / "checkpoints").glob("last*"))
        p = subprocess.Popen(_cmd(out, FUZZ_EPOCHS, resume), env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if kills < 3:  # kill the first attempts at a random moment, start-up included
            time.sleep(rng.uniform(0.2, 0.9) * seconds * scale)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
        _, err = p.communicate(timeout=300)
        if p.returncode == 0 and kills == 0:
            # done before the kill (the machine is less busy than when the reference was
            # timed): start again from nothing, killing sooner
            shutil.rmtree(out, ignore_errors=True)
            scale /= 2
            continue
        if p.returncode == 0:
            break
        assert p.returncode == -signal.SIGKILL, err  # nothing but our kills may stop it
    assert p.returncode == 0 and kills >= 1
    ref_w, w = _weights(reference), _weights(out)
    assert ref_w.keys() == w.keys() and all(torch.equal(ref_w[k], w[k]) for k in w)
    assert _metrics(out) == _metrics(reference)
    assert not list((out / "checkpoints").glob("*.tmp")) and not (out / ".previous").exists()


def test_a_second_writer_is_refused_and_the_first_finishes(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen(_cmd(out, 40, False), env=ENV, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").is_file() and time.time() < deadline:
        time.sleep(0.1)
    assert (out / "metrics.jsonl").is_file(), p.stderr.read() if p.poll() is not None else ""
    for extra in (["--resume"], ["--overwrite"]):
        with pytest.raises(ConfigError, match="being trained by another process \\(pid"):
            vaelab.train(out=out, epochs=40, **SMALL, **({"resume": True} if extra ==
                                                        ["--resume"] else {"overwrite": True}))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert [r["epoch"] for r in _metrics(out)] == list(range(1, 41))


def test_a_flipped_byte_is_detected_and_the_previous_checkpoint_used(tmp_path, reference):
    out = tmp_path / "run"
    subprocess.run(_cmd(out, 4, False), check=True, env=ENV, capture_output=True, timeout=300)
    last = out / "checkpoints" / "last.safetensors"
    raw = bytearray(last.read_bytes())
    raw[-100] ^= 0x01  # one bit of one weight
    last.write_bytes(bytes(raw))
    with pytest.raises(vaelab.errors.CheckpointError, match="do not match the checksum"):
        load_checkpoint(last)
    r = subprocess.run(_cmd(out, 6, True), env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert re.search(r"warning: checkpoint .* is damaged \(its contents do not match the "
                     r"checksum.*previous checkpoint last.prev.safetensors \(epoch 3\)", r.stderr)
    assert _metrics(out) == _metrics(reference)  # epoch 4 redone from epoch 3
    assert all(torch.equal(a, b) for a, b in zip(_weights(out).values(),
                                                  _weights(reference).values()))


def test_metrics_lost_in_a_kill_are_rebuilt_from_the_checkpoint(tmp_path, reference):
    out = tmp_path / "run"
    subprocess.run(_cmd(out, 3, False), check=True, env=ENV, capture_output=True, timeout=300)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # cut row 3
    (out / "checkpoints" / "last.safetensors.tmp").write_bytes(b"half a checkpoint")
    subprocess.run(_cmd(out, 6, True), check=True, env=ENV, capture_output=True, timeout=300)
    assert _metrics(out) == _metrics(reference)
    assert not (out / "checkpoints" / "last.safetensors.tmp").exists()


@pytest.mark.parametrize("delay", [0.05, 0.5, 5.0])  # imports, torch loading, training
def test_ctrl_c_at_start_up_or_in_training_is_one_line_and_exit_130(tmp_path, delay):
    out = tmp_path / "run"
    # a shell's background job (`pytest ... &`) ignores SIGINT, and a child inherits that:
    # the child is given Ctrl-C's default back, as a terminal's foreground process has it
    p = subprocess.Popen(_cmd(out, 200, False), env=ENV, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    if p.returncode == -signal.SIGINT or "Could not import runpy module" in err:
        # the signal came while the interpreter itself was starting, before any of vaelab's
        # code ran: the OS ends the process, or Python's own handler prints where it was in its
        # frozen start-up modules and exits 1 (on a loaded machine); nothing is written
        assert delay < 1 and "vaelab" not in err and not out.exists(), err
        return
    assert p.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err and "Traceback" not in err
    if (out / "checkpoints" / "last.safetensors").exists():  # intact, and resumable
        _, header = load_checkpoint(out / "checkpoints" / "last.safetensors")
        assert [r["epoch"] for r in _metrics(out)] == list(range(1, header["meta"]["epoch"] + 1))


def test_a_run_killed_before_its_first_checkpoint_starts_again_without_overwrite(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")  # what a kill right after start-up leaves
    (out / "tb").mkdir()
    vaelab.train(out=out, epochs=1, **SMALL)
    assert [r["epoch"] for r in _metrics(out)] == [1]


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    vaelab.train(out=out, epochs=2, **SMALL)
    old = (out / "checkpoints" / "last.safetensors").read_bytes()
    calls = {"n": 0}
    orig = trainer_mod.SoloStepper.__call__

    def failing(*a, **k):
        calls["n"] += 1
        raise KeyboardInterrupt  # the new run is stopped in its first epoch

    monkeypatch.setattr(trainer_mod.SoloStepper, "__call__", failing)
    with pytest.raises(KeyboardInterrupt):
        vaelab.train(out=out, epochs=1, overwrite=True, latent=5, **{k: v for k, v in
                                                                  SMALL.items() if k != "latent"})
    assert calls["n"] == 1
    assert (out / "checkpoints" / "last.safetensors").read_bytes() == old  # the old run is back
    assert [r["epoch"] for r in _metrics(out)] == [1, 2] and not (out / ".previous").exists()
    assert vaelab.load_run(out).model.latent_dim == 3
    monkeypatch.setattr(trainer_mod.SoloStepper, "__call__", orig)
    vaelab.train(out=out, epochs=1, overwrite=True, latent=5, **{k: v for k, v in
                                                              SMALL.items() if k != "latent"})
    assert vaelab.load_run(out).model.latent_dim == 5 and not (out / ".previous").exists()


def test_divergence_far_below_the_factorized_baseline_stops_and_its_advice_works(tmp_path,
                                                                                monkeypatch):
    """A blown-up bound (finite, but thousands of nats below a factorized model of the data)
    stops the run with the last good checkpoint; resuming with the lower --lr the message
    suggests finishes the run."""
    out = tmp_path / "run"
    orig_start, orig_step = trainer_mod.SoloStepper.start_epoch, trainer_mod.SoloStepper.__call__
    epochs = []

    def start_epoch(self, epoch):
        epochs.append(epoch)
        orig_start(self, epoch)

    def blows_up(self, x):
        loss, bound = orig_step(self, x)
        if len(epochs) == 2 and self.opt.param_groups[0]["lr"] > 5e-4:  # epoch 2, high lr
            bound = bound * 0 - 4e8
        return loss, bound

    monkeypatch.setattr(trainer_mod.SoloStepper, "start_epoch", start_epoch)
    monkeypatch.setattr(trainer_mod.SoloStepper, "__call__", blows_up)
    with pytest.raises(DivergenceError) as e:
        vaelab.train(out=out, epochs=3, **SMALL)
    msg = str(e.value)
    assert "a factorized model of the data gets" in msg and "(epoch 1) is kept" in msg
    assert "--resume" in msg and "--lr 0.0001" in msg
    _, header = load_checkpoint(out / "checkpoints" / "last.safetensors")
    assert header["meta"]["epoch"] == 1
    assert main(["train", "--resume", "--out", str(out), "--lr", "1e-4", "--epochs", "3",
                 "--no-progress"]) == 0  # the advice, followed
    assert [r["epoch"] for r in _metrics(out)] == [1, 2, 3]
    assert [r["lr"] for r in _metrics(out)] == [1e-3, 1e-4, 1e-4]


def test_a_step_that_cannot_fit_in_memory_is_refused_before_anything_is_written(tmp_path,
                                                                                monkeypatch):
    import vaelab.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: 50 * 2 ** 20)  # 50 MiB free
    with pytest.raises(ConfigError, match=r"needs about .* GiB .* lower --batch-size \(at most"):
        vaelab.train(out=tmp_path / "r", epochs=1, k=5000, progress=False)
    assert not (tmp_path / "r").exists()
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 ** 10)  # 1 KiB
    from vaelab.eval import evaluate_bounds
    from vaelab.models import build_model

    model = build_model("vae", {}, (1, 28, 28), "bernoulli")
    with pytest.raises(ConfigError, match="evaluate on a larger device"):
        evaluate_bounds(model, torch.zeros(2, 1, 28, 28), ks=(5,))
