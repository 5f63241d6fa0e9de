"""``vaelab report DIR`` on a ``vaelab reproduce`` folder: the published table first (paper,
vaelab, difference, both errors, epochs, status), a number only for a finished row, the
command that continues an unfinished one, then the rows' runs; a damaged table is one line."""

import html
import json
import re

import pytest

from tests.helpers import keep_score_files
from vaelab.cli.main import main


def reproduce(out, data, row, epochs, *more):
    return main(["reproduce", "tomczak2018", "--out", str(out), "--rows", row, "--set",
                 f"dataset={data}", f"epochs={epochs}", "hidden=16", "latent=4", "components=5",
                 "kl_warmup=1", "batch_size=50", "--eval-k", "20", "--threads", "1",
                 "--compile", "off", "--no-progress", *more])


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_mnist):
    """vae-standard finished (1 epoch); vae-vamp stopped after 1 of 3 epochs: two calls."""
    out = tmp_path_factory.mktemp("published") / "tomczak"
    assert reproduce(out, tiny_mnist, "vae-standard", 1) == 0
    assert reproduce(out, tiny_mnist, "vae-vamp", 3, "--time-limit", "0.0001") == 0
    return out


def test_a_call_keeps_the_rows_other_calls_wrote(folder):
    rows = json.loads((folder / "table.json").read_text())["rows"]
    assert [r["row"] for r in rows] == ["vae-standard", "vae-vamp"]  # the table's order
    assert rows[0]["status"] == "done" and rows[1]["status"] == "training: epoch 1 of 3"


def test_the_published_table_comes_first_with_numbers_only_for_finished_rows(folder, capsys):
    assert main(["report", str(folder), "--examples", "50", "--no-progress"]) == 0
    page = (folder / "report.html").read_text()
    rows = {r["row"]: r for r in json.loads((folder / "table.json").read_text())["rows"]}
    done, unfinished = rows["vae-standard"], rows["vae-vamp"]
    assert page.index("Published table") < page.index('id="run-0"') < page.index('id="run-1"')
    table = page[page.index("Published table"):page.index('id="run-0"')]
    lines = re.findall(r"<tr>(.*?)</tr>", table)
    first = next(x for x in lines if html.escape(done["label"]) in x)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", first)
    assert cells[1:7] == ["88.56", f"{done['nll']:.2f}", f"{done['diff']:+.2f}",
                          f"{done['nll_stderr']:.2f}", f"{done['nll_mc_stderr']:.3f}", "–"]
    assert cells[7] == "1 of 1" and "not the paper&#x27;s protocol" in cells[9]
    second = re.findall(r"<td[^>]*>(.*?)</td>",
                        next(x for x in lines if html.escape(unfinished["label"]) in x))
    assert second[1] == "85.57" and second[2:7] == ["–"] * 5  # no number before it is done
    assert second[9] == "training: epoch 1 of 3"
    assert html.escape(unfinished["command"]) in table  # how to continue it
    # the finished row's run shows the row's own score and the paper's number
    run0 = page[page.index('id="run-0"'):page.index('id="run-1"')]
    assert "from reproduce.json" in run0 and "88.56 nats (tomczak2018/vae-standard" in run0
    assert page.count("alt=\"vaelab minus the paper") == 1  # the finished row's figure


def test_a_damaged_table_is_one_line_and_writes_no_page(folder, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    doc = json.loads((folder / "table.json").read_text())
    del doc["rows"][0]["nll"]
    (broken / "table.json").write_text(json.dumps(doc))
    assert main(["report", str(broken), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "table.json is damaged" in err and "nll" in err and "\n" not in err
    assert not (broken / "report.html").exists()


def test_a_row_of_several_seeds_shows_their_spread_and_every_run(tmp_path, tiny_mnist):
    out = tmp_path / "seeds"
    assert reproduce(out, tiny_mnist, "vae-standard", 1, "--seeds", "2") == 0
    (row,) = json.loads((out / "table.json").read_text())["rows"]
    assert main(["report", str(out), "--examples", "20", "--no-progress"]) == 0
    page = (out / "report.html").read_text()
    table = page[page.index("Published table"):page.index('id="run-0"')]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", re.findall(r"<tr>(.*?)</tr>", table)[1])
    assert cells[2] == f"{row['nll']:.2f}" and cells[6] == f"{row['nll_seed_stderr']:.2f}"
    assert "2 seeds: " in cells[9] and f"{row['seeds'][1]['nll']:.2f} (seed 15" in cells[9]
    assert '<h2 id="run-1">vae-standard-seed15</h2>' in page and 'id="run-2"' not in page


def test_the_figure_puts_each_finished_row_at_its_difference_with_two_errors():
    from matplotlib.collections import LineCollection

    from vaelab.viz import published_figure

    rows = [{"label": "a", "status": "done", "diff": 0.13, "nll_stderr": 0.23,
             "nll_mc_stderr": 0.004},
            {"label": "b", "status": "training: epoch 3 of 10"},
            {"label": "c", "status": "done", "diff": -0.4, "nll_stderr": 0.2,
             "nll_mc_stderr": 0.01, "nll_seed_stderr": 0.3}]
    ax = published_figure(rows).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "c"]  # no unfinished row
    bars = [seg for c in ax.collections if isinstance(c, LineCollection)
            for seg in c.get_segments()]
    spans = sorted((s[0][0], s[1][0]) for s in bars)
    for (lo, hi), r in zip(spans, sorted((rows[2], rows[0]), key=lambda r: r["diff"])):
        err = (r["nll_stderr"] ** 2 + r["nll_mc_stderr"] ** 2 +
               r.get("nll_seed_stderr", 0.0) ** 2) ** 0.5
        assert (lo, hi) == pytest.approx((r["diff"] - 2 * err, r["diff"] + 2 * err))


def test_finished_rows_are_compared_image_by_image_beside_the_papers_difference(
        folder, tmp_path, tiny_mnist):
    """Both rows finished (vae-standard with two seeds): the page's differences table gives the
    paper's NLL_b - NLL_a beside vaelab's, recomputed here from the rows' reproduce.json files
    (each image's L_K averaged over seeds, then the per-image differences); a damaged score
    file leaves its pairs out and the page is still written."""
    import shutil

    import numpy as np

    from vaelab.report.published import read_table, row_differences

    out = tmp_path / "both"
    shutil.copytree(folder, out)
    assert reproduce(out, tiny_mnist, "vae-vamp", 3) == 0
    assert reproduce(out, tiny_mnist, "vae-standard", 1, "--seeds", "2") == 0
    doc = read_table(out)
    std, vamp = doc["rows"]
    assert std["status"] == vamp["status"] == "done" and len(std["seeds"]) == 2

    def per_image(*dirs):
        return np.mean([json.loads((out / d / "reproduce.json").read_text())["per_example"]["20"]
                        for d in dirs], axis=0)

    each = per_image("vae-standard", "vae-standard-seed15") - per_image("vae-vamp")
    (d,) = row_differences(out, doc)
    assert (d["a"], d["b"]) == ("vae-standard", "vae-vamp")
    assert d["paper"] == pytest.approx(85.57 - 88.56)
    assert d["vaelab"] == pytest.approx(each.mean()) == pytest.approx(vamp["nll"] - std["nll"])
    assert d["stderr"] == pytest.approx(each.std(ddof=1) / len(each) ** 0.5)
    assert d["seed_stderr"] == pytest.approx(std["nll_seed_stderr"])
    assert main(["report", str(out), "--examples", "20", "--no-progress"]) == 0
    page = (out / "report.html").read_text()
    section = page[page.index("Differences between rows"):page.index('id="run-0"')]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", section)
    assert cells[1:4] == [f"{d['paper']:+.2f}", f"{d['vaelab']:+.2f}", f"{d['stderr']:.2f}"]
    assert cells[6] == f"{d['vaelab'] - d['paper']:+.2f}"
    (out / "vae-vamp" / "reproduce.json").write_text('{"per_example": ')
    assert row_differences(out, doc) == []
    with pytest.warns(UserWarning, match="reproduce.json is damaged"):  # its run's section
        assert main(["report", str(out), "--examples", "20", "--no-progress"]) == 0
    assert "Differences between rows" not in (out / "report.html").read_text()


def test_a_folder_of_score_files_alone_still_gives_the_table_and_the_differences(
        folder, tmp_path, tiny_mnist):
    """What benchmarks/results/ keeps of a finished table (its table.json and each row's
    config.json, metrics.jsonl and reproduce.json, no checkpoints: machines keep no runs/
    between sittings): the report still shows every row's number and the paired differences,
    the same as from the whole folder, and has no run sections to show."""
    import shutil

    whole = tmp_path / "whole"
    shutil.copytree(folder, whole)
    assert reproduce(whole, tiny_mnist, "vae-vamp", 3) == 0
    kept = tmp_path / "kept"
    keep_score_files(whole, kept, ("vae-standard", "vae-vamp"))
    pages = []
    for out in (whole, kept):
        assert main(["report", str(out), "--examples", "20", "--no-progress"]) == 0
        page = (out / "report.html").read_text()
        end = page.index("it does not report.</p>")  # the end of the differences
        pages.append(page[page.index("Published table"):end].replace(str(out), "DIR"))
    assert 'id="run-0"' not in (kept / "report.html").read_text()
    rows = json.loads((kept / "table.json").read_text())["rows"]
    assert all(f"{r['nll']:.2f}" in pages[1] for r in rows)
    assert "Differences between rows" in pages[1]
    assert pages[0] == pages[1]
