"""Acceptance of the model protocol as users meet it: their own model file trained through the
CLI and through Python with every estimator; colour data; a 28x20 .npz; runs that load from
another directory without their data; evaluation on another file."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

import vaelab
from tests.conftest import needs_shared, shared_data_dir
from vaelab.cli.main import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "user_model.py"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """600/100/100 embedded digits as a user's .npz of [N, 28, 28] uint8 images."""
    d = vaelab.data.embedded()
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, **{s: (getattr(d, s)[:n, 0].numpy() * 255).astype(np.uint8)
                      for s, n in (("train", 600), ("valid", 100), ("test", 100))})
    return path


@pytest.fixture(scope="module")
def user_runs(tmp_path_factory, digits):
    """The user's model trained through the CLI with each estimator (binarized statically)."""
    root = tmp_path_factory.mktemp("user")
    common = ["--model", f"{FIXTURE}:TinyConvVAE", "--model-args", '{"latent": 4, "channels": 8}',
              "--dataset", str(digits), "--binarize", "static", "--epochs", "2", "--eval-k", "4",
              "--batch-size", "50", "--no-progress"]
    runs = {}
    for name, extra in {"reparam": [], "stl": ["--estimator", "stl"],
                        "dreg": ["--estimator", "dreg", "--objective", "iwae", "--k", "3"],
                        "vimco": ["--estimator", "score_function", "--baseline", "vimco",
                                  "--objective", "iwae", "--k", "3"]}.items():
        runs[name] = root / name
        assert main(["train", *common, *extra, "--out", str(runs[name])]) == 0, name
    return runs


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_users_model_trains_through_the_cli_with_every_estimator(user_runs):
    for name, run in user_runs.items():
        m = _metrics(run)
        assert len(m) == 2 and np.isfinite(m[-1]["valid_L4"]), name
        doc = json.loads((run / "config.json").read_text())
        assert doc["model"]["class"].endswith("user_model.py:TinyConvVAE")
        assert doc["model"]["args"] == {"latent": 4, "channels": 8, "x_shape": [1, 28, 28]}
        assert (run / "model.py").read_text() == FIXTURE.read_text()  # the run carries it
    assert _metrics(user_runs["reparam"])[-1]["valid_L4"] > _metrics(
        user_runs["reparam"])[0]["valid_L4"]


def test_eval_sample_info_and_gradients_work_on_a_users_run(user_runs, capsys, tmp_path):
    run = str(user_runs["dreg"])
    assert main(["eval", run, "--k", "1", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["bounds"]["1"] < out["bounds"]["10"] < 0 and out["active_units"] <= 4
    assert main(["sample", run, "--samples", "8", "--out", str(tmp_path)]) == 0
    assert imread(tmp_path / "samples.png").shape[:2] == (((28 + 1) * 1 + 1) * 3,
                                                          ((28 + 1) * 10 + 1) * 3)
    assert main(["info", run, "--examples", "50", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(info["per_dimension_kl"]) == 4
    assert main(["gradients", run, "--k", "1", "3", "--repeats", "4", "--batch-size", "8",
                 "--estimators", "reparam", "dreg", "score_function+vimco", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    assert {(r["estimator"], r["k"]) for r in rows} == {("reparam", 1), ("reparam", 3),
                                                         ("dreg", 1), ("dreg", 3),
                                                         ("score_function", 3)}


@pytest.mark.parametrize("estimator,extra", [
    ("reparam", {}), ("stl", {}), ("dreg", {"objective": "iwae", "k": 3}),
    ("score_function", {"objective": "iwae", "k": 3, "baseline": "vimco"})])
def test_a_users_model_trains_through_python_with_every_estimator(tmp_path, estimator, extra):
    from tests.fixtures.user_model import TinyConvVAE

    x = vaelab.data.embedded().train[:400]  # [N, 1, 28, 28] binary images as a tensor
    torch.manual_seed(0)
    model = TinyConvVAE(latent=4, channels=8)
    res = vaelab.train(model=model, data=x, out=tmp_path, epochs=2, estimator=estimator,
                       eval_k=4, batch_size=50, progress=False, **extra)
    assert res.model is model and res.record["epoch"] == 2
    assert np.isfinite(res.record["valid_L4"])


def test_python_runs_reload_and_take_torch_datasets(tmp_path):
    from tests.fixtures.user_model import TinyConvVAE

    x = vaelab.data.embedded().train[:500]  # [N, 1, 28, 28]
    torch.manual_seed(0)
    model = TinyConvVAE(latent=4, channels=8)
    vaelab.train(model=model, data=x, out=tmp_path / "py", epochs=1, eval_k=2,
                 batch_size=50, progress=False)
    loaded = vaelab.load(tmp_path / "py", "last")
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(vaelab.errors.DataError, match="--data FILE"):
        _ = vaelab.load_run(tmp_path / "py").data  # in-memory data cannot be found again

    class Items(torch.utils.data.Dataset):  # a torch Dataset of (image, label) pairs
        def __len__(self):
            return 300

        def __getitem__(self, i):
            return x[i], 0

    res = vaelab.train(model=TinyConvVAE(latent=4, channels=8), data=Items(),
                       out=tmp_path / "ds", epochs=1, eval_k=2, batch_size=50, progress=False)
    assert np.isfinite(res.record["valid_L2"])


def test_a_run_loads_from_another_directory_without_its_data_or_the_users_file(
        user_runs, tmp_path):
    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(user_runs["reparam"], moved)
    user_file = tmp_path / "my_model.py"
    shutil.copy(FIXTURE, user_file)
    # a run whose class lives in a file that is then deleted: the run's copy is used
    from vaelab.models import resolve_class

    cls = resolve_class(f"{user_file}:TinyConvVAE")
    vaelab.train(model=cls(latent=3, channels=4), data=vaelab.data.embedded().train[:200],
                 out=tmp_path / "gone", epochs=1, eval_k=2, batch_size=50, progress=False)
    user_file.unlink()
    script = ("import sys, torch, vaelab\n"
              "for run in sys.argv[1:]:\n"
              "    m = vaelab.load(run)\n"
              "    x = torch.zeros(2, *m.x_shape)\n"
              "    print(type(m).__name__, tuple(m.log_weights(x, 3).shape))\n")
    env = {k: v for k, v in os.environ.items() if k != "VAELAB_DATA"}
    env["PYTHONPATH"] = str(Path(vaelab.__file__).parents[1])
    r = subprocess.run([sys.executable, "-c", script, str(moved), str(tmp_path / "gone")],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split("\n")[:2] == ["TinyConvVAE (3, 2)", "TinyConvVAE (3, 2)"]


def test_eval_on_another_file(user_runs, digits, tmp_path, capsys):
    other = tmp_path / "other.npz"
    with np.load(digits) as d:
        np.savez(other, test=d["test"][:30])
    run = str(user_runs["reparam"])
    assert main(["eval", run, "--data", str(other), "--k", "1", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_examples"] == 30 and out["data"] == str(other)
    assert (user_runs["reparam"] / "eval-other.json").is_file()
    np.save(tmp_path / "wrong.npy", np.zeros((5, 8, 8), dtype=np.uint8))
    assert main(["eval", run, "--data", str(tmp_path / "wrong.npy")]) == 2
    assert "shape [1, 8, 8]" in capsys.readouterr().err


def test_colour_data_trains_evaluates_in_bits_per_dim_and_samples_in_colour(tmp_path, capsys):
    run = tmp_path / "colour"
    assert main(["train", "--model", "convvae", "--dataset", "colour_shapes", "--epochs", "2",
                 "--latent", "8", "--channels", "8", "--hidden", "64", "--batch-size", "64",
                 "--eval-k", "2", "--out", str(run), "--no-progress"]) == 0
    doc = json.loads((run / "config.json").read_text())
    assert doc["data"]["likelihood"] == "logistic" and doc["data"]["image_shape"] == [3, 32, 32]
    capsys.readouterr()
    assert main(["eval", str(run), "--k", "1", "5", "--examples", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 < out["bits_per_dim"] < 8  # 8 bits/dim is the uniform distribution's
    assert main(["sample", str(run), "--samples", "20", "--out", str(tmp_path)]) == 0
    sizes = {"samples.png": (((32 + 1) * 2 + 1) * 3, ((32 + 1) * 10 + 1) * 3),  # 20 samples
             "reconstructions.png": ((2 * 32 + 1 + 2 * 4) * 3, (10 * 32 + 11 * 3) * 3)}  # 10
    for name, colour in (("samples.png", 1 / 255), ("reconstructions.png", 0.2)):
        img = imread(tmp_path / name)[..., :3]
        assert img.shape == (*sizes[name], 3)
        assert float(np.abs(img[..., 0] - img[..., 2]).max()) > colour  # RGB, not grey


@needs_shared
def test_frey_faces_as_a_users_npz_give_28x20_images_in_every_grid(tmp_path, capsys):
    with np.load(shared_data_dir() / "freyfaces.npz") as d:
        faces = d["faces"].reshape(-1, 28, 20)
    np.savez(tmp_path / "frey.npz", faces=faces)
    run = tmp_path / "frey"
    assert main(["train", "--dataset", str(tmp_path / "frey.npz"), "--likelihood", "gaussian",
                 "--epochs", "1", "--hidden", "64", "--latent", "4", "--eval-k", "2",
                 "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["data"]["image_shape"] == [1, 28, 20]
    assert main(["sample", str(run), "--samples", "20", "--out", str(tmp_path)]) == 0
    h, w = imread(tmp_path / "samples.png").shape[:2]  # 20 samples, 10 per row
    assert (h, w) == (((28 + 1) * 2 + 1) * 3, ((20 + 1) * 10 + 1) * 3)
    h, w = imread(tmp_path / "reconstructions.png").shape[:2]  # 10 pairs in one row
    assert (h, w) == ((2 * 28 + 1 + 2 * 4) * 3, (10 * 20 + 11 * 3) * 3)


def test_a_class_defined_in_a_notebook_loads_when_given(tmp_path):
    """A class with no importable module and no file (a notebook cell): training records it,
    loading asks for the class and rebuilds it with the recorded arguments."""
    scope: dict = {"__name__": "notebook_cell"}
    exec(compile(FIXTURE.read_text(), "<cell>", "exec"), scope)
    cls = scope["TinyConvVAE"]
    vaelab.train(model=cls(latent=3, channels=4), data=vaelab.data.embedded().train[:200],
                 out=tmp_path, epochs=1, eval_k=2, batch_size=50, progress=False)
    with pytest.raises(vaelab.errors.ConfigError, match="load\\(run, model=MyModel\\)"):
        vaelab.load(tmp_path)
    m = vaelab.load(tmp_path, model=cls)
    assert type(m) is cls and m.latent_dim == 3
    assert vaelab.load(tmp_path, model=cls(latent=3, channels=4)).latent_dim == 3
