"""The HTML report: self-contained, complete, and working in a real browser (Debian's headless
Chromium): no console errors, every image decodes, the latent explorer's slider changes its
image, and a screenshot of the page is not blank."""

import io
import re

import numpy as np
import pytest

from tests.report.browser import Browser, chromium
from vaelab.cli.main import main

SMALL = ["--hidden", "32", "--latent", "6", "--eval-k", "5", "--batch-size", "200",
         "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    a, b = root / "iwae", root / "vae"
    assert main(["train", "--objective", "iwae", "--k", "3", "--epochs", "2", "--out", str(a),
                 *SMALL]) == 0
    assert main(["train", "--epochs", "2", "--out", str(b), *SMALL]) == 0
    assert main(["info", str(a), "--examples", "200"]) == 0
    assert main(["gradients", str(a), "--k", "1", "3", "--repeats", "4", "--batch-size", "8",
                 "--estimators", "reparam", "dreg"]) == 0
    assert main(["eval", str(a), "--k", "1", "100", "--examples", "20"]) == 0
    assert main(["ais", str(a), "--examples", "20", "--ais-steps", "20", "--chains", "4",
                 "--leapfrog", "3"]) == 0
    assert main(["bdmc", str(a), "--examples", "10", "--ais-steps", "3", "20", "--chains", "2",
                 "--leapfrog", "3", "--k", "100"]) == 0
    assert main(["gaps", str(a), "--examples", "10", "--k", "100", "--local-steps", "50",
                 "--elbo-samples", "50"]) == 0
    return root, a, b


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    root, a, b = runs
    assert main(["report", str(a), "--examples", "100"]) == 0
    return a / "report.html"


def test_the_page_is_self_contained_and_shows_every_part(page):
    text = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing from the network
    for part in ("Configuration", "Training", "Evaluation",
                 "Samples", "Reconstructions", "Latent code", "Latent explorer",
                 "Gradient estimators", "Information (info-test.json)",
                 "Annealed importance sampling (ais-test.json)", "IS log p(x), K=100",
                 "Bidirectional Monte Carlo (bdmc.json)", "Inference gaps (gaps-test.json)",
                 "amortization gap (ELBO* - ELBO)",
                 "Monte Carlo error", "bits per dimension"):
        assert part in text, part
    assert text.count("data:image/png;base64,") >= 10
    assert "from eval-test.json (`vaelab eval`)" in text  # an existing evaluation is reused


def test_the_answer_comes_first_and_the_configuration_is_folded(page):
    text = page.read_text()
    body = text[text.index('<h2 id="run-0">'):]
    assert body.index("test NLL") < body.index("Configuration") < body.index("Training")
    assert "<details><summary>Configuration (config.json)</summary><pre>" in body
    summary = body[: body.index("<details>")]
    for part in ("model", "data", "nats ±", "(test examples)", "(Monte Carlo)",
                 "bits per dimension", "active units", "Var_x E[z_j|x] &gt; 0.01",
                 "2 of 2 epochs"):
        assert part in summary, part
    # one precision: no bare integers beside 3-decimal numbers in the evaluation table
    table = body[body.index("<h3>Evaluation</h3>"):body.index("<h3>Samples</h3>")]
    numbers = re.findall(r"<td>(-?[\d.e+-]+)</td>", table)
    assert numbers and all(re.fullmatch(r"-?\d+\.\d{3}", n) for n in numbers), numbers


def test_damaged_run_files_leave_their_section_out(runs, tmp_path, recwarn):
    import shutil

    root, a, _ = runs
    bad = tmp_path / "bad"
    shutil.copytree(a, bad)
    (bad / "gradients.json").write_text('[{"estimator": "reparam", "k": ')  # cut short
    (bad / "eval-test.json").write_text("garbage")
    (bad / "gaps-test.json").write_text('{"rows": 3}')
    assert main(["report", str(bad), "--examples", "20"]) == 0
    text = (bad / "report.html").read_text()
    assert "The gradients section is left out" in text and "The gaps section is left out" in text
    assert "computed for this report" in text  # the damaged evaluation is recomputed
    assert "Annealed importance sampling" in text  # the intact files still show
    messages = [str(w.message) for w in recwarn]
    assert any("gradients file is damaged" in m for m in messages)


@pytest.mark.parametrize("change", [{"nll": "abc"}, {"nll_mc_stderr": None},
                                    {"bounds": {"1": 1.0}}, {"nll_k": [5]}])
def test_an_evaluation_file_with_wrong_values_is_recomputed(runs, tmp_path, recwarn, change):
    """Valid JSON with a field of the wrong type or shape: a warning and the page's own
    evaluation, never an internal error."""
    import json
    import shutil

    root, a, _ = runs
    bad = tmp_path / "bad"
    shutil.copytree(a, bad)
    ev = json.loads((bad / "eval-test.json").read_text())
    (bad / "eval-test.json").write_text(json.dumps({**ev, **change}))
    assert main(["report", str(bad), "--examples", "20"]) == 0
    assert "computed for this report" in (bad / "report.html").read_text()
    assert any("eval-test.json is damaged" in str(w.message) for w in recwarn)


def test_several_runs_are_compared_image_by_image(runs, tmp_path):
    """A comparison table of every run. Runs evaluated with the same --examples, --seed and K:
    the second's NLL minus the first's, paired over the images, as paired_difference gives it
    from the two eval files; a run scored on other images (here: by the report itself, having
    no eval file) gets no paired number."""
    import json
    import shutil

    from vaelab.eval import paired_difference

    root, a, b = runs
    a2, b2, c = tmp_path / "iwae", tmp_path / "vae", tmp_path / "other"
    shutil.copytree(a, a2)
    shutil.copytree(b, b2)
    shutil.copytree(b, c)
    (c / "eval-test.json").unlink(missing_ok=True)
    for d in (a2, b2):
        assert main(["eval", str(d), "--k", "1", "100", "--examples", "40", "--no-progress"]) == 0
    out = tmp_path / "cmp.html"
    assert main(["report", str(a2), str(b2), str(c), "--out", str(out), "--examples", "20"]) == 0
    text = out.read_text()
    assert "<h2>Comparison</h2>" in text and text.count('<h2 id="run-') == 3
    assert "computed for this report on 20 random test examples" in text  # the run without one
    ev = [json.loads((d / "eval-test.json").read_text()) for d in (a2, b2)]
    d = paired_difference(*ev)
    assert d["n_examples"] == 40 and d["diff"] == pytest.approx(ev[1]["nll"] - ev[0]["nll"])
    cell = f"{d['diff']:+.2f} ± {d['stderr']:.2f} ± {d['mc_stderr']:.3f}"
    rows = re.findall(r'<tr><td class="l">(iwae|vae|other)</td>(.*?)</tr>', text)
    assert [r[0] for r in rows] == ["iwae", "vae", "other"]
    assert "(reference)" in rows[0][1] and cell in rows[1][1]
    assert '<td class="l">—</td>' in rows[2][1]


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed (make test "
                    "installs it where it can)")
def test_the_page_works_in_a_real_browser(page):
    from matplotlib.image import imread

    b = Browser()
    try:
        b.open(page)
        n_images = b.js("document.images.length")
        broken = b.js("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
                      ".map(i => i.alt)")
        assert n_images >= 8 and broken == []  # figures, grids and the explorer
        before = b.js("document.querySelector('.explorer img').src")
        label = b.js("""(() => { const s = document.querySelector('.explorer input[type=range]');
                         s.value = s.value === '0' ? '6' : '0';
                         s.dispatchEvent(new Event('input'));
                         return s.nextElementSibling.textContent; })()""")
        after = b.js("document.querySelector('.explorer img').src")
        assert after != before and label in ("-2.50", "2.50")
        assert b.js("document.querySelector('.explorer img').naturalWidth") > 0
        assert b.errors() == []
        # the first screen holds the answer: the summary with the NLL, the configuration folded
        top = b.js("document.querySelector('.summary').getBoundingClientRect().bottom")
        assert 0 < top < 900
        assert "test NLL" in b.js("document.querySelector('.summary').innerText")
        assert b.js("document.querySelector('details').open") is False
        assert b.js("document.querySelector('details').getBoundingClientRect().height") < 60
        clipped = b.js("Array.from(document.images).filter(i => i.naturalWidth > "
                       "i.getBoundingClientRect().width * 1.01 && i.className === 'fig')"
                       ".length")
        assert clipped == 0  # figures scale to the page instead of overflowing it
        shot = imread(io.BytesIO(b.screenshot()))
    finally:
        b.close()
    assert shot.shape[0] > 500 and shot.shape[1] > 500
    gray = shot[..., :3].mean(-1)
    assert gray.std() > 0.05 and (gray < 0.5).mean() > 0.01  # not blank: text and figures
    assert np.isfinite(gray).all()
