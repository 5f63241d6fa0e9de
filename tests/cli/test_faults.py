"""Classes of faults, each one line on stderr, exit 2, and nothing lost:

- resource limits (seeds, sizes, counts, 16-bit data);
- a user's model that fails (its constructor, NaN log-likelihoods, sys.exit at import);
- a full disk while checkpointing (solo, a stack, the first checkpoint of --overwrite);
- damaged or missing run files (metrics.jsonl), a resume asked to go backwards;
- misplaced runs, two writers, an --overwrite killed half way, a grid killed half way;
- data with nothing to learn, and bounds no sound model reaches.
"""

import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelab.cli.main import main
from vaelab.training import checkpoint as ckpt

SMALL = ["--dataset", "embedded", "--hidden", "16", "--latent", "3", "--eval-k", "2",
         "--batch-size", "500", "--no-progress"]


def run_main(argv, capsys):
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip()
    return rc, err


def assert_one_line(rc, err, match):
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert match in err, err


def metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "epoch_seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def trained(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(out), *SMALL]) == 0
    return out


# ---- resource limits ----------------------------------------------------------------------
@pytest.mark.parametrize("argv,match", [
    (["train", "--seed", str(2 ** 64), "--out", "{t}/r"], "--seed must be an integer from 0"),
    (["train", "--seed", "-1", "--out", "{t}/r"], "--seed must be an integer from 0"),
    (["train", "--latent", "1000000000", "--out", "{t}/r"], "--latent must be an integer from"),
    (["train", "--model", "convvae", "--latent", "1000000000", "--out", "{t}/r"],
     "needs more memory than this machine has"),
    (["train", "--eval-k", "1000000000", "--out", "{t}/r"], "--eval-k must be at most"),
    (["train", "--dataset", "{t}/u16.npy", "--out", "{t}/r"],
     "integer values lie in [60000, 60000] (uint16)"),
    (["sample", "{run}", "--samples", "1000000000"], "--samples must be from 1 to 10000"),
    (["eval", "{run}", "--seed", str(2 ** 70)], "--seed: must be an integer"),
    (["eval", "{run}", "--repeats", "100000"], "--repeats must be from 1 to 1000"),
    (["bdmc", "{run}", "--chains", "100000000"], "--chains must be from 1 to 10000"),
    (["traverse", "{run}", "--dims", "1000000"], "--dims must be from 1 to 1000"),
])
def test_resource_limits_are_validated(tmp_path, trained, capsys, argv, match):
    np.save(tmp_path / "u16.npy", np.full((50, 28, 28), 60000, dtype=np.uint16))
    argv = [a.replace("{t}", str(tmp_path)).replace("{run}", str(trained)) for a in argv]
    before = sorted(p.name for p in trained.rglob("*"))
    assert_one_line(*run_main(argv, capsys), match)
    assert not (tmp_path / "r").exists()
    assert sorted(p.name for p in trained.rglob("*")) == before


def test_small_integer_arrays_of_any_width_are_8_bit_levels(tmp_path, capsys):
    np.save(tmp_path / "u16.npy", (np.arange(60 * 28 * 28) % 256).astype(np.uint16)
            .reshape(60, 28, 28))
    assert main(["train", "--dataset", str(tmp_path / "u16.npy"), "--epochs", "1", "--out",
                 str(tmp_path / "r"), "--hidden", "8", "--latent", "2", "--eval-k", "2",
                 "--no-progress"]) == 0


# ---- a user's model that fails --------------------------------------------------------------
USER = '''
import torch
from torch.distributions import Independent, Normal
from vaelab import Capabilities, Model


class Broken(Model):
    capabilities = Capabilities(gaussian_posterior=True, discrete_data=True)

    def __init__(self, x_shape=(1, 28, 28), latent=2, fail=""):
        if fail == "init":
            raise ValueError("latent must be even")
        super().__init__(x_shape, latent)
        self.fail = fail
        self.encoder = torch.nn.Linear(784, 2 * latent)
        self.decoder = torch.nn.Linear(latent, 784)

    def posterior(self, x):
        mu, s = self.encoder(x.flatten(1)).chunk(2, -1)
        return Independent(Normal(mu, s.exp()), 1)

    @property
    def prior(self):
        return Independent(Normal(torch.zeros(self.latent_dim), 1.0), 1)

    def log_likelihood(self, x, z):
        if self.fail == "nan":
            return torch.full(z.shape[:-1], float("nan"))
        if self.fail == "raise":
            raise IndexError("bad index in my decoder")
        return -((self.decoder(z) - x.flatten(1)) ** 2).sum(-1)

    def generate(self, z):
        return torch.sigmoid(self.decoder(z)).view(-1, *self.x_shape)
'''


@pytest.mark.parametrize("fail,match", [
    ("init", "building Broken (defined in {f}) with"),
    ("nan", "Broken (defined in {f}) gives log-weights [nan, nan]"),
    ("raise", "Broken (defined in {f}) failed on one example: IndexError: bad index"),
    ("exit", "importing {f} called sys.exit(3)"),
])
def test_a_users_model_that_fails_is_one_line_naming_its_file(tmp_path, capsys, fail, match):
    f = tmp_path / "mine.py"
    f.write_text(USER + ("\nimport sys\nsys.exit(3)\n" if fail == "exit" else ""))
    rc, err = run_main(["train", "--model", f"{f}:Broken", "--model-args",
                        json.dumps({"fail": fail}), "--epochs", "1", "--out",
                        str(tmp_path / "r"), "--no-progress"], capsys)
    assert_one_line(rc, err, match.format(f=f.resolve()))
    assert not (tmp_path / "r").exists()


# ---- a full disk ------------------------------------------------------------------------------
def full_disk_after(monkeypatch, n_ok: int):
    """save_file writes half a file and fails with ENOSPC after ``n_ok`` good writes."""
    real, calls = ckpt.save_file, {"n": 0}

    def save_file(tensors, path, metadata=None):
        calls["n"] += 1
        if calls["n"] > n_ok:
            Path(path).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, path, metadata=metadata)
    monkeypatch.setattr(ckpt, "save_file", save_file)


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_last_epoch(
        tmp_path, trained, capsys, monkeypatch):
    whole = tmp_path / "whole"
    assert main(["train", "--epochs", "3", "--out", str(whole), *SMALL]) == 0
    before = metrics(trained)
    full_disk_after(monkeypatch, 0)
    rc, err = run_main(["train", "--resume", "--epochs", "3", "--out", str(trained)], capsys)
    assert_one_line(rc, err, "the disk is full")
    assert "intact" in err and metrics(trained) == before
    assert not list(trained.rglob("*.tmp"))
    monkeypatch.undo()  # space again: the run continues to the numbers of one call
    assert main(["train", "--resume", "--epochs", "3", "--out", str(trained)]) == 0
    assert metrics(trained) == metrics(whole)


def test_a_full_disk_at_the_first_checkpoint_of_overwrite_restores_the_old_run(
        tmp_path, trained, capsys, monkeypatch):
    files = {p.relative_to(trained): p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    full_disk_after(monkeypatch, 0)
    rc, err = run_main(["train", "--overwrite", "--epochs", "1", "--lr", "3e-4", "--out",
                        str(trained), *SMALL], capsys)
    assert_one_line(rc, err, "the disk is full")
    now = {p.relative_to(trained): p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    assert {k: v for k, v in now.items() if k.name != ".lock"} == \
        {k: v for k, v in files.items() if k.name != ".lock"}


def test_a_full_disk_in_a_stack_is_one_line(tmp_path, capsys, monkeypatch):
    full_disk_after(monkeypatch, 1)
    rc, err = run_main(["train-stack", "--grid", "seed=0,1", "--epochs", "1", "--out",
                        str(tmp_path / "g"), *SMALL], capsys)
    assert_one_line(rc, err, "the disk is full")


# ---- damaged or missing run files -------------------------------------------------------------
def test_a_garbled_metrics_row_loses_nothing_on_resume(trained, recwarn):
    rows = (trained / "metrics.jsonl").read_text().splitlines()
    (trained / "metrics.jsonl").write_text("{garbled\n" + rows[1] + "\n")
    assert main(["train", "--resume", "--epochs", "3", "--out", str(trained),
                 "--no-progress"]) == 0
    assert [r["epoch"] for r in metrics(trained)] == [2, 3]  # row 2 kept, row 1 unrecoverable
    assert (trained / "metrics.jsonl.damaged").read_text().startswith("{garbled")
    assert any("epochs 1 have no record" in str(w.message) for w in recwarn)


def test_a_deleted_metrics_file_is_said(trained, recwarn):
    (trained / "metrics.jsonl").unlink()
    assert main(["train", "--resume", "--epochs", "3", "--out", str(trained),
                 "--no-progress"]) == 0
    assert [r["epoch"] for r in metrics(trained)] == [2, 3]
    assert any("is missing: epochs 1 have no record" in str(w.message) for w in recwarn)


def test_a_resume_below_the_epochs_done_changes_nothing(trained, capsys):
    config = (trained / "config.json").read_text()
    assert_one_line(*run_main(["train", "--resume", "--epochs", "1", "--out", str(trained)],
                              capsys), "--epochs 1 is below the 2 epochs this run has done")
    assert (trained / "config.json").read_text() == config


def test_every_checkpoint_damaged_is_one_line(trained, capsys):
    for f in (trained / "checkpoints").glob("*.safetensors"):
        f.write_bytes(b"junk")
    assert_one_line(*run_main(["eval", str(trained), "--k", "2"], capsys),
             "every checkpoint in")


# ---- misplaced runs, two writers, half-done writes ---------------------------------------------
def test_a_solo_run_into_a_stack_folder_is_refused(tmp_path, capsys):
    g = tmp_path / "g"
    assert main(["train-stack", "--grid", "seed=0,1", "--epochs", "1", "--out", str(g),
                 *SMALL]) == 0
    assert_one_line(*run_main(["train", "--epochs", "1", "--out", str(g), *SMALL], capsys),
             "holds a stack of runs")


def test_the_holds_a_run_check_is_repeated_under_the_lock(tmp_path, capsys, monkeypatch):
    """A writer that finished between our first check and our lock is not overwritten."""
    from vaelab.training.rundir import RunDir

    out = tmp_path / "r"
    real, other = RunDir.lock, []

    def lock(self):  # the other writer finishes its run just before we get the lock
        if not other:
            other.append(1)
            assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 0
        real(self)
    monkeypatch.setattr(RunDir, "lock", lock)
    assert_one_line(*run_main(["train", "--epochs", "2", "--out", str(out), *SMALL], capsys),
             "already holds a run")
    assert [r["epoch"] for r in metrics(out)] == [1]


def test_an_overwrite_killed_after_its_config_resumes_the_old_run(tmp_path, trained, capsys):
    """The state a kill leaves between the new config.json and the new first checkpoint: the
    old run aside, a new config in place. --resume restores the old run, with its own config."""
    from vaelab.training.rundir import RunDir

    old = metrics(trained)
    run = RunDir(trained)
    run.set_aside()
    new_cfg = json.loads((run.aside / "config.json").read_text())
    new_cfg["train"]["estimator"]["k"] = 5
    (trained / "config.json").write_text(json.dumps(new_cfg))
    assert_one_line(*run_main(["eval", str(trained / "nowhere")], capsys), "does not exist")
    assert main(["train", "--resume", "--epochs", "3", "--out", str(trained),
                 "--no-progress"]) == 0
    assert metrics(trained)[:2] == old and len(metrics(trained)) == 3
    assert json.loads((trained / "config.json").read_text())["train"]["estimator"]["k"] == 1


def test_an_overwrite_killed_before_its_config_says_how_to_get_the_run_back(trained, capsys):
    from vaelab.training.rundir import RunDir

    RunDir(trained).set_aside()
    assert_one_line(*run_main(["train", "--resume", "--epochs", "1", "--out", str(trained / "x")],
                       capsys), "no config.json")
    rc, err = run_main(["info", str(trained)], capsys)
    assert rc == 0  # a reader finishes the interrupted overwrite: the old run is back
    assert (trained / "config.json").is_file() and not (trained / ".previous").exists()


def test_a_grid_killed_between_its_runs_checkpoints_resumes_exactly(tmp_path, monkeypatch):
    """A kill while the grid writes its runs' checkpoints one after another leaves them an
    epoch apart: --resume brings them back together, to the numbers of one uninterrupted
    call."""
    from vaelab.training import session

    whole, g = tmp_path / "whole", tmp_path / "g"
    grid = ["--grid", "seed=0,1,2", *SMALL]
    assert main(["train-stack", "--epochs", "3", "--out", str(whole), *grid]) == 0
    real, calls = session.save_checkpoint, {"n": 0}

    def save(path, *a, **k):
        if "last" in Path(path).name:
            calls["n"] += 1
            if calls["n"] == 5:  # epoch 2: the first run's checkpoint is written, then a kill
                raise KeyboardInterrupt
        return real(path, *a, **k)
    monkeypatch.setattr(session, "save_checkpoint", save)
    assert main(["train-stack", "--epochs", "3", "--out", str(g), *grid]) == 130
    monkeypatch.undo()
    epochs = sorted(json.loads((g / n / "metrics.jsonl").read_text().splitlines()[-1])["epoch"]
                    for n in ("seed0", "seed1", "seed2"))
    assert epochs != [epochs[0]] * 3  # the runs were left apart
    assert main(["train-stack", "--resume", "--out", str(g), "--no-progress"]) == 0
    for n in ("seed0", "seed1", "seed2"):
        assert metrics(g / n) == metrics(whole / n)


def test_a_grid_killed_before_every_run_had_a_checkpoint_starts_again(tmp_path, monkeypatch):
    from vaelab.training import session

    whole, g = tmp_path / "whole", tmp_path / "g"
    grid = ["--grid", "seed=0,1", *SMALL]
    assert main(["train-stack", "--epochs", "2", "--out", str(whole), *grid]) == 0
    real = session.save_checkpoint

    def save(path, *a, **k):
        if "seed1" in str(path) and "last" in Path(path).name:
            raise KeyboardInterrupt
        return real(path, *a, **k)
    monkeypatch.setattr(session, "save_checkpoint", save)
    assert main(["train-stack", "--epochs", "2", "--out", str(g), *grid]) == 130
    monkeypatch.undo()
    assert main(["train-stack", "--resume", "--out", str(g), "--no-progress"]) == 0
    for n in ("seed0", "seed1"):
        assert metrics(g / n) == metrics(whole / n)


# ---- data with nothing to learn, bounds no model reaches --------------------------------------
def test_constant_data_is_refused(tmp_path, capsys):
    np.save(tmp_path / "zeros.npy", np.zeros((100, 28, 28), dtype=np.uint8))
    assert_one_line(*run_main(["train", "--dataset", str(tmp_path / "zeros.npy"), "--out",
                        str(tmp_path / "r")], capsys), "nothing to learn")


def test_a_bound_above_what_a_sound_model_reaches_is_divergence():
    from vaelab.data import ImageDataset
    from vaelab.eval.baseline import divergence_guard

    x = torch.rand(50, 1, 4, 4)
    data = ImageDataset("t", x, x, x, binary=False)
    gauss = divergence_guard(data, "gaussian")
    assert gauss.check(0.0, 100.0) is None
    assert "collapsed" in gauss.check(0.0, 16 * 8.3)
    b = divergence_guard(ImageDataset("b", x.round(), x.round(), x.round(), binary=True),
                         "bernoulli")
    assert "probability mass above 1" in b.check(0.0, 1.0) and b.check(0.0, -3.0) is None
    assert "NaN" in b.check(float("nan"), -3.0)



# ---- options a model does not take, what a run records ----------------------------------------
def test_a_users_model_refuses_a_likelihood_it_does_not_take_and_records_its_defaults(
        tmp_path, capsys):
    f = tmp_path / "mine.py"
    f.write_text(USER)
    rc, err = run_main(["train", "--model", f"{f}:Broken", "--likelihood", "logistic",
                        "--out", str(tmp_path / "r")], capsys)
    assert_one_line(rc, err, "takes no likelihood option")
    assert main(["train", "--model", f"{f}:Broken", "--dataset", "embedded", "--epochs", "1",
                 "--eval-k", "2", "--out", str(tmp_path / "ok"), "--no-progress"]) == 0
    args = json.loads((tmp_path / "ok" / "config.json").read_text())["model"]["args"]
    assert args == {"x_shape": [1, 28, 28], "latent": 2, "fail": ""}  # defaults recorded


def test_no_active_units_for_discrete_latents(tmp_path, capsys):
    out = tmp_path / "sbn"
    assert main(["train", "--model", "sbn", "--units", "4", "--estimator", "score_function",
                 "--baseline", "mean", "--epochs", "1", "--out", str(out), "--dataset",
                 "embedded", "--eval-k", "2", "--batch-size", "500", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--k", "1", "10", "--examples", "20", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert "active_units" not in ev and "exact_nll" in ev
