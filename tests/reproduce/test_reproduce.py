"""``vaelab reproduce`` on a tiny table: two rows of a real table, one or two epochs of small
networks on a few hundred images. It writes the table and its JSON, shows no number for a row
that has not finished, continues after a kill -9 to the numbers of an uninterrupted call, and
refuses a table or row it does not know in one line, before writing anything."""

import json
import os
import signal
import statistics
import subprocess
import sys
import time

import pytest

from tests.helpers import keep_score_files
from vaelab.cli.main import main


def sets(tiny_mnist, epochs):
    return ["--set", f"dataset={tiny_mnist}", f"epochs={epochs}", "hidden=16", "latent=4",
            "components=5", "kl_warmup=1", "batch_size=50"]


def args(out, tiny_mnist, epochs, *more):
    return ["reproduce", "tomczak2018", "--out", str(out), "--rows", "vae-standard",
            "vae-vamp", *sets(tiny_mnist, epochs), "--eval-k", "20", "--threads", "1", "--compile",
            "off", "--no-progress", *more]


def test_a_tiny_table_trains_scores_and_prints(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "t"
    assert main([*args(out, tiny_mnist, 1), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    rows = {r["row"]: r for r in table["rows"]}
    assert set(rows) == {"vae-standard", "vae-vamp"}
    for name, r in rows.items():
        assert r["status"] == "done" and r["epochs"] == r["schedule_epochs"] == 1
        assert r["published"] == {"vae-standard": 88.56, "vae-vamp": 85.57}[name]
        assert r["diff"] == pytest.approx(r["nll"] - r["published"])
        assert r["nll_stderr"] > 0 and r["nll_mc_stderr"] > 0 and r["eval_examples"] == 200
        assert r["eval_k"] == 20 and not r["paper_protocol"]
        score = json.loads((out / name / "reproduce.json").read_text())
        assert score["nll"] == r["nll"] and score["n_examples"] == 200
        # the numbers behind the row, to recompute it: each image's L_K and Monte Carlo error,
        # and which test images (all 200, in order)
        each, mc = score["per_example"]["20"], score["per_example_mc_stderr"]
        assert len(each) == len(mc) == 200 and score["per_example_index"] == list(range(200))
        assert -sum(each) / 200 == pytest.approx(r["nll"])
        assert statistics.stdev(each) / 200 ** 0.5 == pytest.approx(r["nll_stderr"])
        assert sum(e * e for e in mc) ** 0.5 / 200 == pytest.approx(r["nll_mc_stderr"])
        assert (out / name / "config.json").is_file()
    assert json.loads((out / "table.json").read_text())["rows"] == table["rows"]
    speed = json.loads((out / "speed.json").read_text())
    assert speed["vae-standard"]["settings"][0]["threads"] == 1
    # the text table: every column of a done row, and the protocol flagged
    assert main(args(out, tiny_mnist, 1, "--no-train")) == 0
    text = capsys.readouterr().out
    assert "vae-vamp" in text and "85.57" in text and f"{rows['vae-vamp']['nll']:.2f}" in text
    assert "not the paper's protocol" in text
    # a score cut short, with damaged per-image values, or from before they were kept: scored
    # again (the same seed: the same number), never shown wrong and never an internal error
    path = out / "vae-standard" / "reproduce.json"
    whole = json.loads(path.read_text())
    short = {"20": whole["per_example"]["20"][:5]}
    for damaged in ('{"protocol": ', {**whole, "per_example": short},
                    {**whole, "per_example": {"20": ["x"] * 200}}, [1, 2],
                    {k: v for k, v in whole.items() if not k.startswith("per_example")}):
        path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
        assert main([*args(out, tiny_mnist, 1, "--no-train"), "--json"]) == 0
        again = json.loads(capsys.readouterr().out)["rows"][0]
        assert again["nll"] == pytest.approx(rows["vae-standard"]["nll"], abs=1e-9)
        assert json.loads(path.read_text())["per_example"] == whole["per_example"]


def test_an_unfinished_row_shows_no_number(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "t"
    # a zero-minute budget: one epoch is trained (the limit is checked after each epoch)
    assert main([*args(out, tiny_mnist, 3), "--time-limit", "0.0001", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    first = rows[0]
    assert first["status"] == "training: epoch 1 of 3" and "nll" not in first
    assert rows[1]["status"] == "not started" and "nll" not in rows[1]
    assert main(args(out, tiny_mnist, 3, "--no-train")) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("vae-standard"))
    assert "training: epoch 1 of 3" in line and " - " in line
    assert not (out / "vae-standard" / "reproduce.json").exists()


def test_each_call_says_where_a_row_stands_and_how_it_will_train(tmp_path, tiny_mnist, capsys):
    """Before a row trains, one line: the epochs done, the setting chosen from the measured
    speeds, and, under --time-limit, that a rerun goes on."""
    out = tmp_path / "t"
    cmd = ["reproduce", "tomczak2018", "--out", str(out), "--rows", "vae-standard",
           *sets(tiny_mnist, 3), "--eval-k", "20", "--threads", "1", "--compile", "off",
           "--time-limit", "0.0001"]
    for done in (0, 1):
        assert main(cmd) == 0
        err = capsys.readouterr().err
        line = next(x for x in err.splitlines() if x.startswith("reproduce tomczak2018/"))
        assert line.startswith(f"reproduce tomczak2018/vae-standard: epoch {done} of 3 done; "
                               "training with 1 thread, eager (")
        assert "s an epoch measured here" in line and line.endswith("rerun to go on")


def test_kill_and_rerun_give_the_numbers_of_one_call(tmp_path, tiny_mnist):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(args(whole, tiny_mnist, 2)) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "vaelab", *args(killed, tiny_mnist, 2)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = killed / "vae-standard" / "metrics.jsonl"
    t0 = time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        if metrics.is_file() and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "table.json").exists()  # killed before the table
    assert main(args(killed, tiny_mnist, 2)) == 0
    a = json.loads((whole / "table.json").read_text())["rows"]
    b = json.loads((killed / "table.json").read_text())["rows"]
    for ra, rb in zip(a, b):
        assert rb["status"] == "done"
        assert rb["nll"] == pytest.approx(ra["nll"], abs=1e-4)
        assert rb["nll_stderr"] == pytest.approx(ra["nll_stderr"], abs=1e-4)


@pytest.mark.parametrize("extra,match", [
    (["reproduce", "nope", "--out"], "no table 'nope'"),
    (["reproduce", "burda2015", "--rows", "vae-k2-l1", "--out"], "has no row 'vae-k2-l1'"),
    (["reproduce", "burda2015", "--set", "bogus=1", "--out"], "--set bogus: no such option"),
    (["reproduce", "burda2015", "--set", "k=two", "--out"], "'two' is not an integer"),
    (["reproduce", "burda2015", "--set", "k=1", "--set", "k=2", "--out"], "gives k twice"),
    (["reproduce", "burda2015", "--eval-k", "2000000", "--out"], "--eval-k must be from 1 to"),
])
def test_unknown_tables_rows_and_options_are_one_line(tmp_path, capsys, extra, match):
    out = tmp_path / "never"
    assert main([*extra, str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err
    assert not out.exists()


def test_a_row_follows_the_length_asked_now(tmp_path, tiny_mnist, capsys):
    """A row trained to 1 epoch, then asked for 2 (--set epochs=2): it trains on and is scored
    again, never stuck at the length of the earlier call."""
    out = tmp_path / "t"
    assert main([*args(out, tiny_mnist, 1), "--rows", "vae-standard", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["rows"][0]
    assert main([*args(out, tiny_mnist, 2), "--rows", "vae-standard", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["rows"][0]
    assert first["epochs"] == 1 and again["status"] == "done" and again["epochs"] == 2
    assert again["nll"] != first["nll"]


def test_a_folder_holding_another_run_is_refused(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "t"
    assert main(args(out, tiny_mnist, 1)) == 0
    capsys.readouterr()
    changed = [a.replace("hidden=16", "hidden=8") for a in args(out, tiny_mnist, 1)]
    assert main(changed) == 2
    assert "is not row tomczak2018/vae-standard" in capsys.readouterr().err


def test_project_measures_each_row_and_writes_speed_json(tmp_path, tiny_mnist, capsys):
    out = tmp_path / "p"
    assert main(["reproduce", "tomczak2018", "--out", str(out), "--rows", "hvae-vamp",
                 *sets(tiny_mnist, 4), "--threads", "1", "--compile", "off", "--project",
                 "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["projection"]
    (s,) = row["settings"]
    assert s["threads"] == 1 and s["compile"] == "" and s["steps_per_epoch"] == 6
    assert s["epoch_seconds"] == pytest.approx(6 * s["step_seconds"] + s["validation_seconds"])
    assert row["projected_hours"] == pytest.approx(4 * s["epoch_seconds"] / 3600)
    assert json.loads((out / "speed.json").read_text())["hvae-vamp"]["settings"][0] == s
    assert not (out / "hvae-vamp").exists()  # nothing trained


def test_calls_side_by_side_keep_each_others_timings(tmp_path, tiny_mnist):
    """Two calls on one --out (a row a core), each started before the other measured: the
    second call's speed.json keeps the first call's row, so no later call measures it again."""
    from vaelab.data.registry import load_data
    from vaelab.reproduce.table import Reproduction, get_table, row_config

    out, t = tmp_path / "two", get_table("tomczak2018")
    overrides = {"dataset": str(tiny_mnist), "epochs": 2, "hidden": 16, "latent": 4,
                 "components": 5, "batch_size": 50}
    a, b = (Reproduction(t, out, overrides, max_threads=1, compile="off") for _ in range(2))
    for rep, row in ((a, "vae-standard"), (b, "vae-vamp")):
        p = t.row(row)
        cfg = row_config(p, overrides)
        rep.timings(p, cfg, load_data(cfg.data)[0])
    stored = json.loads((out / "speed.json").read_text())
    assert set(stored) == {"vae-standard", "vae-vamp"}
    assert not list(out.glob("*.tmp"))


def test_seeds_are_runs_of_their_own_and_the_row_is_their_mean(tmp_path, tiny_mnist, capsys):
    """--seeds 3 after a one-seed call: the first seed is the run already there (not trained
    again), two more runs with the next seeds; the row's numbers are recomputed here from the
    three reproduce.json files."""
    out = tmp_path / "t"
    one = [*args(out, tiny_mnist, 1), "--rows", "vae-standard"]
    assert main([*one, "--json"]) == 0
    single = json.loads(capsys.readouterr().out)["rows"][0]
    first = out / "vae-standard" / "checkpoints" / "last.safetensors"
    stamp = first.stat().st_mtime_ns
    assert main([*one, "--seeds", "3", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert first.stat().st_mtime_ns == stamp
    dirs = [out / "vae-standard", out / "vae-standard-seed15", out / "vae-standard-seed16"]
    assert [s["seed"] for s in row["seeds"]] == [14, 15, 16]
    scores = [json.loads((d / "reproduce.json").read_text()) for d in dirs]
    for d, seed in zip(dirs, (14, 15, 16)):
        assert json.loads((d / "config.json").read_text())["train"]["runtime"]["seed"] == seed
    nlls = [s["nll"] for s in scores]
    assert nlls[0] == single["nll"] and len(set(nlls)) == 3  # three different models
    assert row["status"] == "done" and row["nll"] == pytest.approx(statistics.mean(nlls))
    assert row["diff"] == pytest.approx(row["nll"] - 88.56)
    assert row["nll_seed_sd"] == pytest.approx(statistics.stdev(nlls))
    assert row["nll_seed_stderr"] == pytest.approx(statistics.stdev(nlls) / 3 ** 0.5)
    # ± images: over the images' means over seeds (the same images for every seed), no more
    # than the mean of the seeds' own errors
    assert all(s["per_example_index"] == scores[0]["per_example_index"] for s in scores)
    per_image = [-statistics.mean(v) for v in zip(*(s["per_example"]["20"] for s in scores))]
    assert row["nll"] == pytest.approx(statistics.mean(per_image))
    assert row["nll_stderr"] == pytest.approx(statistics.stdev(per_image) / 200 ** 0.5)
    assert row["nll_stderr"] <= statistics.mean(s["nll_stderr"] for s in scores) + 1e-12
    assert row["nll_mc_stderr"] == pytest.approx(
        sum(s["nll_mc_stderr"] ** 2 for s in scores) ** 0.5 / 3)
    assert "--seeds 3" in row["command"]
    assert main([*one, "--seeds", "3", "--no-train"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("vae-standard"))
    assert f"{row['nll_seed_stderr']:.2f}" in line and f"{nlls[2]:.2f} (seed 16" in line


def test_a_row_waits_for_its_last_seed(tmp_path, tiny_mnist, capsys):
    """A time limit that has passed before the first epoch (6e-11 s) still trains one epoch,
    as `vaelab train --time-limit` does, and no more: each call moves the table on, however
    busy the machine."""
    out = tmp_path / "t"
    two = [*args(out, tiny_mnist, 2), "--rows", "vae-standard", "--seeds", "2"]
    assert main([*two, "--time-limit", "1e-12", "--json"]) == 0  # one epoch of seed 14
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["status"] == "training: 0 of 2 seeds done; seed 14: epoch 1 of 2"
    assert "nll" not in row and not (out / "vae-standard-seed15").exists()
    assert main([*two, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["status"] == "done" and [s["epochs"] for s in row["seeds"]] == [2, 2]


@pytest.mark.parametrize("extra,match", [
    (["--seeds", "0"], "--seeds must be from 1 to 100, got 0"),
    (["--seeds", "101"], "--seeds must be from 1 to 100, got 101"),
    (["--seeds", "2", "--set", f"seed={2 ** 63 - 1}"], "passes 2^63 - 1"),
])
def test_bad_seeds_are_one_line_before_anything_is_written(tmp_path, capsys, extra, match):
    out = tmp_path / "never"
    assert main(["reproduce", "tomczak2018", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "\n" not in err
    assert not out.exists()


def test_a_row_over_max_hours_says_so_and_is_not_trained(tmp_path, tiny_mnist, capsys):
    """Not started: "not run" with the hours it needs. Started under a larger --max-hours: its
    epochs stay where they were, and the status says why and what to give."""
    out = tmp_path / "t"
    tiny_hours = ["--max-hours", "1e-9"]
    assert main([*args(out, tiny_mnist, 3), "--rows", "vae-standard", *tiny_hours,
                 "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["status"].startswith("not run: needs about") and "GPU-minutes" in row["status"]
    assert not (out / "vae-standard").exists()
    assert main([*args(out, tiny_mnist, 3), "--rows", "vae-standard", "--time-limit", "0.0001",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["epochs"] == 1
    assert main([*args(out, tiny_mnist, 3), "--rows", "vae-standard", *tiny_hours,
                 "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["epochs"] == 1 and "nll" not in row
    assert row["status"].startswith("training: epoch 1 of 3; the rest needs about")
    assert "more than --max-hours 1e-09" in row["status"]


def test_a_folder_of_score_files_alone_is_finished_and_never_scored_again(
        tmp_path, tiny_mnist, capsys):
    """Score files kept without checkpoints (benchmarks/results/: machines keep no runs/
    between sittings): each call shows the rows as done with their kept numbers and trains
    nothing; another protocol, which would need the checkpoints, is one line, exit 2, and
    leaves the table as it was."""
    whole, kept = tmp_path / "whole", tmp_path / "kept"
    assert main([*args(whole, tiny_mnist, 1), "--json"]) == 0
    before = {r["row"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    keep_score_files(whole, kept, before)
    for more in (["--no-train"], []):
        assert main([*args(kept, tiny_mnist, 1), "--json", *more]) == 0
        rows = {r["row"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
        for name, r in rows.items():
            assert r["status"] == "done" and r["epochs"] == 1 and r["stopped"] == "schedule"
            assert (r["nll"], r["nll_stderr"]) == (before[name]["nll"], before[name]["nll_stderr"])
            assert not (kept / name / "checkpoints").exists()  # nothing trained
    table = (kept / "table.json").read_text()
    assert main([*args(kept, tiny_mnist, 1), "--eval-k", "30"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not its checkpoints" in err and "K = 20" in err and "\n" not in err
    assert (kept / "table.json").read_text() == table
