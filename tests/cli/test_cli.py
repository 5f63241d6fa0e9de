"""The command line: main job, JSON output, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from vaelab.cli.main import main
from vaelab.training import load_run

SMALL = ["--hidden", "32", "--latent", "4", "--eval-k", "5", "--batch-size", "500",
         "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--model", "vae", "--objective", "iwae", "--k", "2", "--epochs", "2",
                 "--out", str(d), *SMALL]) == 0
    return d


def test_eval_json(run_dir, capsys):
    assert main(["eval", str(run_dir), "--k", "1", "5", "50", "--examples", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["split"] == "test" and set(out["bounds"]) == {"1", "5", "50"}
    b = out["bounds"]
    assert b["1"] < b["5"] < b["50"] < 0
    assert out["nll"] == pytest.approx(-b["50"]) and out["nll_stderr"] > 0
    assert 0 <= out["active_units"] <= 4
    assert out["bits_per_dim"] == pytest.approx(out["nll"] / (784 * np.log(2)))
    # the file holds what was printed and each example's values, which recompute it
    written = json.loads((run_dir / "eval-test.json").read_text())
    assert "per_example" not in out and written["nll"] == out["nll"]
    each = np.array(written["per_example"]["50"])
    assert -each.mean() == pytest.approx(out["nll"])
    assert each.std(ddof=1) / 10 == pytest.approx(out["nll_stderr"])
    # which test images: the seeded subset, the same as evaluating them by hand
    from vaelab.eval import evaluate
    from vaelab.eval.recipes import subset_index

    run = load_run(run_dir)
    index = written["per_example_index"]
    test = len(run.split("test"))
    assert len(set(index)) == 100 and index == subset_index(test, 100, 0).tolist()
    assert index != list(range(100))  # a random subset, not the first 100
    again = evaluate(run.model, run.split("test")[index], (1, 5, 50), seed=0)
    assert again["per_example"]["50"] == written["per_example"]["50"]


def test_sample_writes_pngs(run_dir, tmp_path):
    assert main(["sample", str(run_dir), "--samples", "20", "--out", str(tmp_path)]) == 0
    for name in ("samples.png", "reconstructions.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_datasets_lists_embedded(capsys):
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["datasets"]
    assert {"name": "embedded", "found": "package"}.items() <= rows[0].items()


def _err(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    return err


def test_unknown_dataset(tmp_path, capsys):
    assert main(["train", "--dataset", "nope", "--out", str(tmp_path), *SMALL]) == 2
    assert "unknown data set 'nope'" in _err(capsys)


def test_non_binary_data_with_bernoulli_decoder(tmp_path, capsys):
    np.save(tmp_path / "grey.npy", np.random.default_rng(0).random((40, 16)).astype(np.float32))
    assert main(["train", "--dataset", str(tmp_path / "grey.npy"), "--likelihood", "bernoulli",
                 "--out", str(tmp_path / "r"), *SMALL]) == 2
    assert "Bernoulli decoder needs binary data" in _err(capsys)


def test_missing_run_and_corrupt_checkpoint(run_dir, tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in _err(capsys)
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    for f in (bad / "checkpoints").iterdir():
        f.write_bytes(b"garbage")
    assert main(["eval", str(bad), "--k", "1"]) == 2
    assert "corrupt" in _err(capsys)
    assert (run_dir / "checkpoints" / "best.safetensors").stat().st_size > 100  # original intact


def test_bad_option_values(tmp_path, capsys):
    assert main(["train", "--k", "0", "--out", str(tmp_path)]) == 2
    assert "--k must be an integer >= 1" in _err(capsys)
    assert main(["train", "--model", "iwae", "--out", str(tmp_path)]) == 2
    assert "--objective iwae" in _err(capsys)
    assert main(["train", "--objective", "iwae", "--beta", "2", "--out", str(tmp_path)]) == 2
    assert "--beta is an option of objective elbo" in _err(capsys)
    assert main(["train", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "--device" in _err(capsys)
    assert not list(tmp_path.iterdir())  # nothing was written


def test_python_dash_m(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vaelab", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout and "eval" in r.stdout


def test_gradients_command(run_dir, capsys):
    assert main(["gradients", str(run_dir), "--k", "1", "4", "--repeats", "8", "--batch-size",
                 "16", "--estimators", "reparam", "score_function", "score_function+vimco",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = {(r["estimator"], r["baseline"], r["k"]): r for r in out["rows"]}
    assert set(rows) == {("reparam", "none", 1), ("reparam", "none", 4),
                         ("score_function", "none", 1), ("score_function", "none", 4),
                         ("score_function", "vimco", 4)}  # vimco needs K >= 2
    # the plain score function's encoder variance is orders of magnitude above reparam's
    # (a leave-one-out baseline brings it down to reparam's order on a barely trained model)
    assert rows["score_function", "none", 4]["encoder"]["variance_vs_reparam"] > 100
    assert rows["score_function", "vimco", 4]["encoder"]["variance_vs_reparam"] < \
        rows["score_function", "none", 4]["encoder"]["variance_vs_reparam"]
    assert (run_dir / "gradients_snr.png").is_file()


def test_ais_bdmc_and_gaps_commands(run_dir, capsys):
    """The likelihood tools on a trained run: AIS at least as tight as the ELBO on the same
    images, BDMC's sandwich ordered, the gap table adding up; each writes its JSON into the
    run directory and prints one JSON object with --json."""
    assert main(["ais", str(run_dir), "--examples", "30", "--ais-steps", "30", "--chains", "4",
                 "--leapfrog", "4", "--json"]) == 0
    a = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert a["n_examples"] == 30 and a["config"]["steps"] == 30 and 0 < a["acceptance"] < 1
    assert json.loads((run_dir / "ais-test.json").read_text())["mean"] == a["mean"]
    assert main(["eval", str(run_dir), "--k", "1", "--examples", "30", "--json"]) == 0
    elbo = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["bounds"]["1"]
    assert a["mean"] > elbo  # the same 30 images (same seed)
    assert main(["bdmc", str(run_dir), "--examples", "8", "--ais-steps", "2", "30", "--chains", "2",
                 "--leapfrog", "4", "--k", "50", "--json"]) == 0
    b = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["steps"] for r in b["rows"]] == [2, 30] and b["is"]["k"] == 50
    assert b["rows"][-1]["gap"]["mean"] < b["rows"][0]["gap"]["mean"]
    assert main(["gaps", str(run_dir), "--examples", "8", "--k", "50", "--local-steps", "100",
                 "--elbo-samples", "100", "--json"]) == 0
    g = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    assert g["approximation_gap"]["mean"] + g["amortization_gap"]["mean"] == \
        pytest.approx(g["total_gap"]["mean"])
    assert g["elbo_star"]["mean"] > g["elbo_amortized"]["mean"]
    assert (run_dir / "bdmc.json").is_file() and (run_dir / "gaps-test.json").is_file()


def test_discrete_latent_models_train_evaluate_exactly_and_compare_estimators(tmp_path,
                                                                            capsys):
    """An SBN with 8 Bernoulli units (256 latent values) trains with VIMCO, `eval` gives the
    exact NLL by enumeration, which IS with K = 500 matches, and `gradients` compares the
    discrete estimators; a categorical VAE trains with the Gumbel-softmax relaxation."""
    sbn = tmp_path / "sbn"
    assert main(["train", "--model", "sbn", "--units", "8", "--estimator", "score_function",
                 "--baseline", "vimco", "--objective", "iwae", "--k", "3", "--epochs", "2",
                 "--eval-k", "2", "--batch-size", "200", "--out", str(sbn),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(sbn), "--k", "1", "500", "--examples", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["exact_configurations"] == 256
    assert abs(out["exact_nll"] - out["nll"]) < 0.05 + 5 * out["nll_mc_stderr"]
    assert out["exact_nll"] < -out["bounds"]["1"]  # the ELBO is looser
    assert main(["gradients", str(sbn), "--k", "1", "3", "--repeats", "6", "--batch-size", "8",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"]
    names = {(r["estimator"], r["baseline"], r["k"]) for r in rows}
    assert ("gumbel", "none", 3) in names and ("score_function", "vimco", 3) in names
    assert not any(r["estimator"] in ("reparam", "stl", "dreg") for r in rows)
    assert main(["report", str(sbn)]) == 0  # reuses eval-test.json, shows the exact NLL
    assert "exact NLL (sum over all 256 latent values)" in (sbn / "report.html").read_text()
    assert main(["train", "--model", "categorical", "--variables", "4", "--categories", "3",
                 "--estimator", "gumbel", "--temperature", "0.7", "--epochs", "1",
                 "--eval-k", "2", "--batch-size", "200", "--out", str(tmp_path / "cat"),
                 "--no-progress"]) == 0


def test_info_command(run_dir, capsys):
    assert main(["info", str(run_dir), "--examples", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for k in ("mi_entropy_form", "mi_kl_form", "mi_elbo_surgery", "kl_aggregate_prior",
              "rate", "distortion"):
        assert set(out[k]) == {"value", "stderr"}
    assert len(out["per_dimension_kl"]) == 4 and out["active_units"] <= 4
    assert out["elbo"] == -(out["rate"]["value"] + out["distortion"]["value"])
    assert (run_dir / "latent_activity.png").is_file()
    assert sum(out["active_dimensions"]) == out["active_units"]  # one definition


def test_info_takes_a_random_subset(run_dir, monkeypatch):
    import vaelab.eval

    class Seen(Exception):
        pass

    def capture(model, x, n, samples):
        raise Seen(x)

    monkeypatch.setattr(vaelab.eval, "vae_information", capture)
    with pytest.raises(Seen) as e:
        main(["--debug", "info", str(run_dir), "--examples", "50", "--json"])
    x = e.value.args[0]
    test = load_run(run_dir).data.test
    assert x.shape == (50, *test.shape[1:]) and not torch.equal(x, test[:50])
    flat = test.flatten(1)
    assert all((flat == row).all(1).any() for row in x.flatten(1))  # rows of the test split


def test_traverse_and_disentangle(tmp_path, capsys):
    run = tmp_path / "bv"
    assert main(["train", "--model", "convvae", "--beta", "2", "--dataset",
                 "shapes_small", "--epochs", "1", "--batch-size", "128", "--eval-k", "2",
                 "--out", str(run), "--no-progress"]) == 0
    assert main(["traverse", str(run), "--dims", "3", "--values", "5"]) == 0
    assert (run / "traverse.png").is_file()
    assert main(["traverse", str(run), "--index", "99999"]) == 2
    assert "--index 99999" in _err(capsys)
    capsys.readouterr()
    assert main(["disentangle", str(run), "--json", "--points", "60", "--pairs", "8"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= out["mig"] <= 1 and 0 <= out["beta_vae_metric"] <= 1
    for k in ("factor_vae_metric", "dci_disentanglement", "dci_completeness",
              "dci_informativeness", "sap"):
        assert 0 <= out[k] <= 1, k
    assert set(out["mig_per_factor"]) == {"shape", "scale", "rotation", "x", "y"}
    assert main(["disentangle", str(tmp_path / "nothing")]) == 2


def test_vq_commands(tmp_path, capsys):
    from tests.models.test_vqvae import _small_npz

    run = tmp_path / "vq"
    assert main(["train", "--model", "vqvae", "--dataset", _small_npz(tmp_path, 200),
                 "--epochs", "1", "--num-codes", "16", "--code-dim", "4", "--eval-k", "1",
                 "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["prior", str(run), "--epochs", "1", "--pixel-layers", "1",
                 "--pixel-channels", "8", "--no-progress", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    u = rep["uniform"]
    assert u["prior_nll"] == pytest.approx(49 * np.log(16), rel=1e-5)  # 7x7 codes, 16 each
    assert u["nll_bound"] == pytest.approx(u["recon_nll"] + u["prior_nll"])
    assert main(["sample", str(run), "--samples", "4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "samples.png").is_file()
    assert main(["prior", str(run), "--class-conditional"]) == 2  # this data has no labels
    assert "labels" in _err(capsys)


def test_prior_needs_a_vq_run(run_dir, capsys):
    assert main(["prior", str(run_dir), "--epochs", "1"]) == 2
    assert "vqvae or vqvae2" in _err(capsys)


def test_version_and_help_come_from_the_registries(capsys):
    import argparse

    import vaelab
    from vaelab.cli.main import build_parser
    from vaelab.estimators import ESTIMATORS
    from vaelab.models import MODELS

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"vaelab {vaelab.__version__}"
    train = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
                 ).choices["train"]
    flags = {a.dest: a for a in train._actions if a.option_strings}
    assert tuple(flags["estimator"].choices) == tuple(ESTIMATORS.names())
    assert all(name in flags["model"].help for name in MODELS.names())
    assert all(a.help for a in flags.values())  # every option documents itself
    assert "nats per latent dimension" in flags["free_bits"].help
    assert "minutes" in flags["time_limit"].help


def test_reconstruction_pairs_are_grouped():
    """Each original sits directly above its reconstruction; pairs are set apart by gaps."""
    from vaelab.viz import pair_grid

    a = torch.zeros(3, 1, 2, 2)
    b = torch.full((3, 1, 2, 2), 0.5)
    g = pair_grid(a, b, per_row=2)[..., 0]
    assert g.shape == (2 * (2 * 2 + 1) + 3 * 4, 2 * 2 + 3 * 3)
    assert (g[4:6, 3:5] == 0).all() and (g[6, 3:5] == 1).all() and (g[7:9, 3:5] == 0.5).all()
    assert (g[4:9, 5:8] == 1).all()  # the gap between two pairs


def test_train_json_is_one_object(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "r"), "--json", *SMALL]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"] == str(tmp_path / "r") and out["epoch"] == 1 and "valid_L5" in out


def test_every_subcommand_documents_every_option(capsys):
    import argparse

    from vaelab.cli.commands import COMMANDS
    from vaelab.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0, name
        for action in sub.choices[name]._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"vaelab {name} {action.option_strings[0]} has no help"
    capsys.readouterr()
    for name in ("eval", "info", "sample", "gradients", "traverse", "disentangle", "report",
                 "prior", "datasets", "train"):
        dests = {a.dest for a in sub.choices[name]._actions}
        assert "json" in dests, name
        assert name == "datasets" or "seed" in dests or name == "train", name


def test_sample_on_a_model_without_a_latent_writes_samples_only(tmp_path, capsys):
    """A PixelCNN has no code: its 'reconstruction' would be a copy of the input, so the
    command writes samples only and says why."""
    run = tmp_path / "pcnn"
    assert main(["train", "--model", "pixelcnn", "--pixel-layers", "1", "--pixel-channels", "4",
                 "--dataset", "embedded", "--epochs", "1", "--batch-size", "500",
                 "--eval-k", "1", "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--samples", "2", "--out", str(tmp_path / "s")]) == 0
    assert "no reconstructions" in capsys.readouterr().out
    assert (tmp_path / "s" / "samples.png").is_file()
    assert not (tmp_path / "s" / "reconstructions.png").exists()


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`vaelab datasets --json | head -c 10`: the reader is gone before we write; no error
    message, the exit of a Unix tool stopped by SIGPIPE."""
    import os
    import subprocess
    import sys

    r, w = os.pipe()
    os.close(r)  # the reader leaves before vaelab writes
    p = subprocess.run([sys.executable, "-m", "vaelab", "datasets", "--json"], stdout=w,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(w)
    assert p.returncode == 141 and p.stderr == "", p.stderr


def test_training_in_a_log_file_writes_lines_not_a_bar(tmp_path):
    """stderr is a file, not a terminal: one plain line per epoch (at most one per 30 s, and
    the last), no carriage-return redraws."""
    import subprocess
    import sys

    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-m", "vaelab", "train", "--dataset", "embedded",
                        "--epochs", "3", "--hidden", "8", "--latent", "2", "--eval-k", "2",
                        "--batch-size", "1000", "--out", str(tmp_path / "r")], stderr=f,
                       stdout=subprocess.DEVNULL, check=True, timeout=300)
    text = log.read_text()
    assert "\r" not in text
    lines = [x for x in text.splitlines() if x.startswith("train: epoch")]
    assert lines[0].startswith("train: epoch 1/3") and lines[-1].startswith("train: epoch 3/3")


def test_the_snr_plot_labels_both_panels():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from vaelab.viz import snr_figure

    rows = [{"estimator": e, "baseline": "none", "k": k, "encoder": {"snr": s * 1.1},
             "decoder": {"snr": s}} for e in ("reparam", "dreg")
            for k, s in ((1, 3.0), (5, 3.4), (50, 4.1))]  # less than a decade: no decade tick
    fig = snr_figure(rows)
    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        lo, hi = ax.get_ylim()
        shown = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
        assert len([t for t in shown if t]) >= 2, shown
