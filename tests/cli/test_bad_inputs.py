"""Hostile input across every subcommand: each case must exit with 2, print one line on stderr
that names the problem, show no traceback, and leave every pre-existing run directory
byte-identical."""

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelab.cli.main import main
from vaelab.training.checkpoint import load_checkpoint, payload_digest

SMALL = ["--hidden", "16", "--latent", "3", "--eval-k", "2", "--batch-size", "500",
         "--no-progress"]


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Runs and files the cases point at; {name} in a case is replaced by the path."""
    root = tmp_path_factory.mktemp("bad")
    e = {"root": root}
    e["run"] = root / "run"
    assert main(["train", "--epochs", "1", "--out", str(e["run"]), *SMALL]) == 0
    small = root / "small.npz"
    from vaelab.data import embedded

    d = embedded()
    np.savez(small, **{s: getattr(d, s)[:100, 0].numpy().astype(np.uint8)
                       for s in ("train", "valid", "test")})
    e["vq"] = root / "vq"
    assert main(["train", "--model", "vqvae", "--dataset", str(small), "--epochs", "1",
                 "--num-codes", "8", "--code-dim", "4", "--channels", "8", "--eval-k", "1",
                 "--out", str(e["vq"]), "--no-progress"]) == 0
    rng = np.random.default_rng(0)
    files = root / "files"
    files.mkdir()
    np.savez(files / "ok.npz", train=(rng.random((30, 28, 28)) > 0.5).astype(np.uint8))
    raw = (files / "ok.npz").read_bytes()
    (files / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    np.savez(files / "strings.npz", train=np.array([["a"] * 16] * 20))
    np.save(files / "objects.npy", np.array([{"a": 1}] * 10, dtype=object), allow_pickle=True)
    np.save(files / "nan.npy", np.full((10, 4, 4), np.nan, dtype=np.float32))
    np.save(files / "grey.npy", rng.integers(0, 256, (30, 8, 8)).astype(np.uint8))
    np.save(files / "flat7.npy", np.zeros((10, 7), dtype=np.float32))
    np.save(files / "five_d.npy", np.zeros((2, 1, 2, 3, 4), dtype=np.float32))
    np.save(files / "empty.npy", np.zeros((0, 4, 4), dtype=np.float32))
    (files / "text.npy").write_text("not numpy at all")
    np.save(files / "wrong_shape.npy", np.zeros((5, 8, 8), dtype=np.uint8))
    np.save(files / "rgb.npy", rng.integers(0, 256, (20, 8, 8, 3)).astype(np.uint8))
    (files / "a_file").write_text("x")
    (files / "bad.json").write_text("{not json")
    (files / "unknown.json").write_text(json.dumps({"warp": 9}))
    (files / "nullsec.json").write_text(json.dumps({"optim": None}))
    (files / "badtype.json").write_text(json.dumps({"lr": "abc"}))
    (files / "badargs.json").write_text(json.dumps({"model_args": "abc"}))
    (files / "badbool.json").write_text(json.dumps({"model": "vqvae", "ema": "yes"}))
    ro = root / "readonly"
    ro.mkdir()
    shutil.copytree(e["run"], ro / "run")
    e["ro"] = ro
    read_only = make_read_only(ro)
    # a run whose config.json has a null section, one with corrupt checkpoints, one with a
    # damaged optimizer state (a valid file with a consistent checksum)
    nullcfg = root / "nullcfg"
    shutil.copytree(e["run"], nullcfg)
    doc = json.loads((nullcfg / "config.json").read_text())
    doc["train"]["model"] = None
    (nullcfg / "config.json").write_text(json.dumps(doc))
    corrupt = root / "corrupt"
    shutil.copytree(e["run"], corrupt)
    for f in (corrupt / "checkpoints").iterdir():
        f.write_bytes(b"garbage")
    badopt = root / "badopt"
    shutil.copytree(e["run"], badopt)
    tensors, header = load_checkpoint(badopt / "checkpoints" / "last.safetensors")
    header["optimizer"]["param_groups"] = [{"params": [0]}]
    body = json.dumps(header)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()},
              str(badopt / "checkpoints" / "last.safetensors"),
              metadata={"vaelab": json.dumps({"body": body,
                                              "sha256": payload_digest(tensors, body)})})
    e.update(files=files, nullcfg=nullcfg, corrupt=corrupt, badopt=badopt, small=small,
             read_only=read_only)
    try:
        yield e
    finally:
        undo_read_only(ro)


def make_read_only(path: Path) -> bool:
    """Make ``path`` read-only for this process, root included (the immutable attribute, as
    root ignores permission bits). False if the file system cannot."""
    if os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return True
    import subprocess

    r = subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True)
    return r.returncode == 0 and not os.access(path, os.W_OK)


def undo_read_only(path: Path) -> None:
    if os.geteuid() == 0:
        import subprocess

        subprocess.run(["chattr", "-R", "-i", str(path)], capture_output=True)
    for p in [path, *path.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


CASES = [
    # ---- train: option values
    (["train", "--k", "0", "--out", "{root}/t"], "--k must be"),
    (["train", "--model", "sbn", "--out", "{root}/t"], "discrete latent"),
    (["train", "--model", "sbn", "--estimator", "stl", "--out", "{root}/t"], "discrete latent"),
    (["train", "--model", "sbn", "--estimator", "gumbel", "--temperature", "0", "--out",
      "{root}/t"], "--temperature"),
    (["train", "--model", "sbn", "--estimator", "gumbel", "--temperature", "nan", "--out",
      "{root}/t"], "--temperature"),
    (["train", "--model", "sbn", "--bernoulli-layers", "4", "--out", "{root}/t"],
     "invalid choice"),
    (["train", "--model", "sbn", "--units", "0", "--out", "{root}/t"], "--units"),
    (["train", "--model", "categorical", "--categories", "1", "--out", "{root}/t"],
     "--categories"),
    (["train", "--temperature", "0.5", "--out", "{root}/t"], "not of reparam"),
    (["train", "--objective", "renyi", "--alpha", "2", "--out", "{root}/t"], "--alpha"),
    (["train", "--objective", "miwae", "--groups", "3", "--k", "4", "--out", "{root}/t"],
     "multiple"),
    (["train", "--objective", "ciwae", "--elbo-weight", "nan", "--out", "{root}/t"],
     "--elbo-weight"),
    (["train", "--model", "sbn", "--bernoulli-layers", "2", "--estimator", "rebar", "--out",
      "{root}/t"], "one layer of Bernoulli"),
    (["train", "--model", "sbn", "--estimator", "rebar", "--eta", "inf", "--out", "{root}/t"],
     "--eta"),
    (["train", "--model", "vae", "--estimator", "gumbel", "--out", "{root}/t"],
     "relaxes a discrete latent"),
    (["train", "--k", "-3", "--out", "{root}/t"], "--k must be"),
    (["train", "--objective", "tcvae", "--layers", "2", "--out", "{root}/t"],
     "tcvae needs a diagonal Gaussian posterior"),
    (["train", "--objective", "tcvae", "--tc-weight", "-1", "--out", "{root}/t"],
     "--tc-weight"),
    (["train", "--free-bits", "0.5", "--layers", "2", "--out", "{root}/t"],
     "--free-bits needs a diagonal Gaussian posterior"),
    (["train", "--posterior", "iaf", "--flow-steps", "0", "--out", "{root}/t"],
     "--flow-steps"),
    (["train", "--model", "linear_gaussian", "--posterior", "iaf", "--out", "{root}/t"],
     "--posterior of linear_gaussian"),
    (["train", "--epochs", "-1", "--out", "{root}/t"], "--epochs must be"),
    (["train", "--batch-size", "0", "--out", "{root}/t"], "--batch-size must be"),
    (["train", "--lr", "0", "--out", "{root}/t"], "--lr must be"),
    (["train", "--lr", "-1", "--out", "{root}/t"], "--lr must be"),
    (["train", "--lr", "1e38", "--out", "{root}/t"], "--lr must be"),
    (["train", "--lr", "nan", "--out", "{root}/t"], "--lr must be"),
    (["train", "--lr", "1e4", "--out", "{root}/t"], "--lr must be"),
    (["train", "--latent", "-4", "--out", "{root}/t"], "--latent must be"),
    (["train", "--hidden", "-1", "--out", "{root}/t"], "--hidden"),
    (["train", "--model", "convvae", "--latent", "0", "--out", "{root}/t"], "--latent must be"),
    (["train", "--model", "pixelvae", "--pixel-channels", "0", "--out", "{root}/t"], "positive"),
    (["train", "--model", "vqvae", "--num-codes", "0", "--out", "{root}/t"], "--num-codes"),
    (["train", "--model", "pixelvae", "--dropout", "1.5", "--out", "{root}/t"],
     "--dropout must be in [0, 1)"),
    (["train", "--model", "pixelcnn", "--dropout", "nan", "--out", "{root}/t"],
     "--dropout must be in [0, 1)"),
    (["train", "--dropout", "0.5", "--out", "{root}/t"], "--dropout is an option"),
    (["train", "--model", "pixelcnn", "--pixel-layers", "0", "--out", "{root}/t"],
     "--pixel-layers"),
    (["train", "--device", "foo", "--out", "{root}/t"], "--device"),
    (["train", "--device", "tpu:0", "--out", "{root}/t"], "--device"),
    (["train", "--eval-k", "0", "--out", "{root}/t"], "--eval-k"),
    (["train", "--eval-every", "0", "--out", "{root}/t"], "--eval-every"),
    (["train", "--patience", "-1", "--out", "{root}/t"], "--patience"),
    (["train", "--free-bits", "-1", "--out", "{root}/t"], "--free-bits"),
    (["train", "--beta", "nan", "--out", "{root}/t"], "--beta"),
    (["train", "--kl-warmup", "-2", "--out", "{root}/t"], "--kl-warmup"),
    (["train", "--time-limit", "-5", "--out", "{root}/t"], "--time-limit"),
    (["train", "--schedule", "burda", "--epochs", "2", "--out", "{root}/t"], "burda runs"),
    (["train", "--compile", "fast", "--out", "{root}/t"], "--compile"),
    (["train", "--loggers", "neptune", "--out", "{root}/t"], "unknown logger"),
    (["train", "--layers", "3", "--out", "{root}/t"], "--layers"),
    (["train", "--foo", "1", "--out", "{root}/t"], "unrecognized"),
    # ---- train: combinations
    (["train", "--objective", "iwae", "--beta", "2", "--out", "{root}/t"], "--beta is an option"),
    (["train", "--model", "iwae", "--out", "{root}/t"], "objective, not a model"),
    (["train", "--model", "nofile.py:X", "--out", "{root}/t"], "does not exist"),
    (["train", "--model", "json:dumps", "--out", "{root}/t"], "not a subclass"),
    (["train", "--model-args", "[1]", "--out", "{root}/t"], "JSON object"),
    (["train", "--model-args", '{"nope": 1}', "--out", "{root}/t"], "no option nope"),
    (["train", "--estimator", "dreg", "--out", "{root}/t"], "--objective iwae"),
    (["train", "--estimator", "score_function", "--baseline", "vimco", "--out", "{root}/t"],
     "--k 2"),
    (["train", "--estimator", "stl", "--baseline", "mean", "--out", "{root}/t"],
     "--baseline is an option"),
    (["train", "--model", "pixelcnn", "--k", "5", "--out", "{root}/t"], "--k 1"),
    (["train", "--model", "pixelvae", "--dataset", "colour_shapes", "--out", "{root}/t"],
     "single-channel"),
    # ---- train: data
    (["train", "--dataset", "nope", "--out", "{root}/t"], "unknown data set"),
    (["train", "--dataset", "{files}/truncated.npz", "--out", "{root}/t"], "could not be read"),
    (["train", "--dataset", "{files}/strings.npz", "--out", "{root}/t"], "unsupported dtype"),
    (["train", "--dataset", "{files}/objects.npy", "--out", "{root}/t"], "Python objects"),
    (["train", "--dataset", "{files}/nan.npy", "--out", "{root}/t"], "NaN"),
    (["train", "--dataset", "{files}/grey.npy", "--likelihood", "bernoulli", "--out",
      "{root}/t"], "binary data"),
    (["train", "--dataset", "{files}/flat7.npy", "--out", "{root}/t"], "--image-shape"),
    (["train", "--dataset", "{files}/five_d.npy", "--out", "{root}/t"], "shape"),
    (["train", "--dataset", "{files}/empty.npy", "--out", "{root}/t"], "empty"),
    (["train", "--dataset", "{files}/text.npy", "--out", "{root}/t"], "could not be read"),
    (["train", "--dataset", "{files}", "--out", "{root}/t"], "is a directory"),
    (["train", "--dataset", "{files}/ok.npz", "--image-shape", "1,x,3", "--out", "{root}/t"],
     "--image-shape"),
    (["train", "--dataset", "{files}/ok.npz", "--image-shape", "1,5,5", "--out", "{root}/t"],
     "--image-shape"),
    (["train", "--image-shape", "1,28,28", "--out", "{root}/t"], "user's file"),
    (["train", "--dataset", "{files}/rgb.npy", "--model", "vqvae", "--likelihood", "gaussian",
      "--out", "{root}/t"], "Bernoulli or 256-way"),
    # ---- train: paths and runs
    (["train", "--out", "{files}/a_file"], "is a file"),
    (["train", "--out", "{ro}/new"], "not writable"),
    # ---- train-stack
    (["train-stack", "--out", "{root}/t"], "needs --grid"),
    (["train-stack", "--grid", "seed=0,0", "--out", "{root}/t"], "repeats a value"),
    (["train-stack", "--grid", "seed", "--out", "{root}/t"], "NAME=V1"),
    (["train-stack", "--grid", "k=1,x", "--out", "{root}/t"], "not an integer"),
    (["train-stack", "--grid", "batch-size=50,100", "--out", "{root}/t"], "share it"),
    (["train-stack", "--seed", "1", "--grid", "seed=0,2", "--out", "{root}/t"], "give it once"),
    (["train-stack", "--grid", "lr=0,1e-3", "--out", "{root}/t"], "--lr must be"),
    (["train-stack", "--grid", "beta=1,4", "--objective", "iwae", "--out", "{root}/t"],
     "--beta is an option"),
    (["train-stack", "--grid", "seed=0", "--patience", "2", "--out", "{root}/t"],
     "--patience 0"),
    (["train-stack", "--resume", "--out", "{run}"], "holds no stack"),
    (["train-stack", "--grid", "seed=0,1", "--out", "{run}"], "a directory of its own"),
    (["train-stack", "--resume", "--grid", "seed=1", "--out", "{run}"], "drop --config"),
    (["train-stack", "--grid", "seed=0", "--model", "vqvae", "--dataset", "embedded", "--out",
      "{root}/t"], "cannot be stacked"),
    (["train-stack", "--grid", "seed=0,1", "--estimator", "dreg", "--objective", "iwae", "--k",
      "2", "--dataset", "embedded", "--out", "{root}/t"], "cannot be stacked"),
    (["train", "--out", "{run}"], "already holds a run"),
    (["train", "--resume", "--out", "{root}/empty_dir"], "no config.json"),
    (["train", "--resume", "--latent", "5", "--out", "{run}"], "cannot change --latent"),
    (["train", "--resume", "--config", "{files}/bad.json", "--out", "{run}"], "drop --config"),
    (["train", "--resume", "--epochs", "3", "--out", "{badopt}"], "optimizer state"),
    (["train", "--config", "{root}/missing.json", "--out", "{root}/t"], "no such file"),
    (["train", "--config", "{files}/bad.json", "--out", "{root}/t"], "not valid JSON"),
    (["train", "--config", "{files}/unknown.json", "--out", "{root}/t"], "unknown option warp"),
    (["train", "--config", "{files}/nullsec.json", "--out", "{root}/t"], "must be an object"),
    (["train", "--config", "{files}/badtype.json", "--out", "{root}/t"], "--lr must be a number"),
    (["train", "--config", "{files}/badargs.json", "--out", "{root}/t"], "JSON object"),
    (["train", "--config", "{files}/badbool.json", "--out", "{root}/t"], "true or false"),
    # ---- eval
    (["eval", "{root}/missing"], "does not exist"),
    (["eval", "{run}", "--k", "0"], "--k values"),
    (["eval", "{run}", "--k", "1000000000000"], "--k values"),
    (["eval", "{run}", "--examples", "-1"], "--examples"),
    (["eval", "{run}", "--max-samples", "-1"], "--max-samples"),
    (["eval", "{run}", "--repeats", "0"], "--repeats"),
    (["eval", "{run}", "--data", "{root}/missing.npz"], "does not exist"),
    (["eval", "{run}", "--data", "{files}/wrong_shape.npy"], "shape"),
    (["eval", "{run}", "--device", "foo"], "--device"),
    (["eval", "{run}", "--split", "bogus"], "invalid choice"),
    (["eval", "{nullcfg}"], "must be an object"),
    (["eval", "{corrupt}"], "corrupt"),
    (["eval", "{ro}/run", "--k", "1"], "not writable"),
    (["eval", "{run}", "--out", "{files}/a_file"], "is a file"),
    (["eval", "{files}"], "not a vaelab run directory"),
    # ---- sample, info, gradients
    (["sample", "{run}", "--samples", "0"], "--samples must be"),
    (["sample", "{run}", "--samples", "-5"], "--samples must be"),
    (["sample", "{run}", "--out", "{files}/a_file"], "is a file"),
    (["sample", "{ro}/run"], "not writable"),
    (["info", "{run}", "--examples", "0"], "--examples must be"),
    (["info", "{run}", "--z-samples", "0"], "--z-samples must be"),
    (["info", "{vq}"], "continuous latent"),
    (["gradients", "{run}", "--repeats", "1"], "--repeats"),
    (["gradients", "{run}", "--k", "0"], "--k values"),
    (["gradients", "{run}", "--batch-size", "0"], "--batch-size"),
    (["gradients", "{run}", "--estimators", "magic"], "unknown estimator"),
    (["gradients", "{run}", "--estimators", "reparam+vimco"], "applies to score_function"),
    (["gradients", "{vq}"], "continuous latent"),
    # ---- ais, bdmc, gaps
    (["ais", "{run}", "--ais-steps", "0"], "--ais-steps must be"),
    (["ais", "{run}", "--chains", "-1"], "--chains must be"),
    (["ais", "{run}", "--leapfrog", "0"], "--leapfrog must be"),
    (["ais", "{run}", "--init", "uniform"], "invalid choice"),
    (["ais", "{run}", "--step-size", "nan"], "step size"),
    (["ais", "{run}", "--step-size", "-0.1"], "step size"),
    (["ais", "{run}", "--target-accept", "1.5"], "acceptance rate"),
    (["ais", "{run}", "--examples", "-3"], "--examples"),
    (["ais", "{run}", "--out", "{files}/a_file"], "is a file"),
    (["ais", "{ro}/run"], "not writable"),
    (["ais", "{vq}"], "continuous latent"),
    (["bdmc", "{run}", "--examples", "0"], "--examples must be"),
    (["bdmc", "{run}", "--ais-steps", "10", "0"], "--ais-steps"),
    (["bdmc", "{run}", "--k", "-1"], "--k"),
    (["bdmc", "{vq}"], "continuous latent"),
    (["gaps", "{run}", "--local-steps", "0"], "--local-steps"),
    (["gaps", "{run}", "--local-lr", "nan"], "lr"),
    (["gaps", "{run}", "--ais-steps", "-1"], "--ais-steps"),
    (["gaps", "{run}", "--family", "flow"], "invalid choice"),
    (["gaps", "{run}", "--elbo-samples", "0"], "--elbo-samples"),
    (["gaps", "{vq}"], "continuous latent"),
    # ---- traverse, disentangle, prior, datasets
    (["traverse", "{run}", "--index", "99999"], "--index 99999"),
    (["traverse", "{run}", "--index", "-1"], "--index -1"),
    (["traverse", "{run}", "--span", "-3"], "--span"),
    (["traverse", "{run}", "--values", "0"], "--values"),
    (["traverse", "{run}", "--dims", "0"], "--dims"),
    (["disentangle", "{run}"], "known factors"),
    (["disentangle", "{run}", "--points", "0"], "--points"),
    (["prior", "{run}"], "vqvae or vqvae2"),
    (["prior", "{vq}", "--epochs", "0"], "--epochs"),
    (["prior", "{vq}", "--class-conditional"], "labels"),
    (["report", "{root}/missing"], "does not exist"),
    (["report", "{run}", "--out", "{root}/r.txt"], ".html"),
    (["report", "{run}", "--examples", "0"], "--examples"),
    (["report", "{run}", "--out", "{ro}/r.html"], "not writable"),
    (["report", "{run}", "--device", "foo"], "--device"),
    (["datasets", "--bogus"], "unrecognized"),
    # ---- presets and reproduce
    (["presets", "nope"], "no table 'nope'"),
    (["train", "--preset", "nope/x", "--out", "{root}/t"], "no preset"),
    (["train", "--preset", "burda2015/vae-k1-l9", "--out", "{root}/t"], "has no row"),
    (["train", "--preset", "burda2015/vae-k1-l1", "--config", "{root}/c.json", "--out",
      "{root}/t"], "not both"),
    (["train", "--preset", "burda2015/vae-k1-l1", "--epochs", "5", "--out", "{root}/t"],
     "burda runs"),
    (["reproduce", "nope", "--out", "{root}/t"], "no table 'nope'"),
    (["reproduce", "burda2015", "--rows", "x", "--out", "{root}/t"], "has no row 'x'"),
    (["reproduce", "burda2015", "--time-limit", "-1", "--out", "{root}/t"], "--time-limit"),
    (["reproduce", "burda2015", "--set", "lr=abc", "--out", "{root}/t"], "not a number"),
    (["reproduce", "burda2015", "--set", "lr", "--out", "{root}/t"], "NAME=VALUE"),
    (["reproduce", "tomczak2018", "--set", "layers=2", "--out", "{root}/t"],
     "--layers is an option"),
    (["reproduce", "burda2015", "--eval-examples", "-1", "--out", "{root}/t"],
     "--eval-examples must be >= 0"),
    (["reproduce", "burda2015", "--eval-k", "0", "--out", "{root}/t"], "--eval-k must be from 1"),
    (["reproduce", "burda2015", "--max-hours", "0", "--out", "{root}/t"], "--max-hours"),
    (["reproduce", "burda2015", "--max-hours", "nan", "--out", "{root}/t"], "--max-hours"),
    (["reproduce", "burda2015", "--threads", "0", "--out", "{root}/t"], "--threads"),
    (["reproduce", "burda2015", "--out", "{root}/files/ok.npz"], "is a file"),
    (["nosuchcommand"], "invalid choice"),
]


def fill(arg: str, env: dict) -> str:
    for k, v in env.items():
        arg = arg.replace("{" + k + "}", str(v))
    return arg


@pytest.mark.parametrize("argv,match", CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_bad_input_is_one_clean_line_and_touches_nothing(env, capsys, argv, match):
    if any("{ro}" in a for a in argv) and not env["read_only"]:
        pytest.skip("this file system cannot make a folder read-only for this user")
    (env["root"] / "empty_dir").mkdir(exist_ok=True)
    argv = [fill(a, env) for a in argv]
    runs = [env["run"], env["vq"], env["ro"]]
    before = [tree_digest(r) for r in runs]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert match in err, err
    assert [tree_digest(r) for r in runs] == before
    assert not (env["root"] / "t").exists() or not any((env["root"] / "t").iterdir())


def test_the_matrix_is_large_and_covers_every_subcommand():
    from vaelab.cli.commands import COMMANDS

    assert len(CASES) >= 60
    assert {c[0][0] for c in CASES} >= set(COMMANDS)


def test_a_cuda_device_without_a_gpu(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

