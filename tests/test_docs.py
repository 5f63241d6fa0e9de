"""The documentation: every tutorial's code runs as written (in order, in a fresh folder), and
the site builds from the docstrings with warnings as errors."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))


def test_every_lecture_topic_has_a_tutorial():
    names = {p.stem for p in TUTORIALS}
    assert {"bounds", "estimators", "information", "decoders", "variants"} <= names
    index = (DOCS / "index.md").read_text()
    assert all(f"tutorials/{n}" in index for n in names)


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_code_runs(path, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), re.S)
    assert blocks, f"{path.name} has no code"
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": f"tutorial_{path.stem}"}
    for b in blocks:
        exec(compile(b, str(path), "exec"), scope)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "html"
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        str(DOCS), str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_the_site_builds_without_warnings(site):
    html = (site / "api" / "models.html").read_text()
    assert "vaelab.models.base.Model" in html and "log_weights" in html
    # one API page per subpackage, none of them the whole library
    pages = sorted((site / "api").glob("*.html"))
    assert len(pages) >= 10 and max(p.stat().st_size for p in pages) < 400_000
    # every module of the package is documented somewhere
    import pkgutil

    import vaelab
    documented = "".join(p.read_text() for p in pages)
    for m in pkgutil.walk_packages(vaelab.__path__, "vaelab."):
        if not m.ispkg and not m.name.split(".")[-1].startswith("_"):
            assert f'id="module-{m.name}"' in documented, m.name


def test_the_cli_reference_lists_every_command_and_option(site):
    from vaelab.cli.main import build_parser
    from vaelab.cli.reference import option_table

    html = (site / "cli.html").read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if hasattr(a, "choices") and a.choices).choices
    for name, sub in commands.items():
        assert f"vaelab {name}" in html
        for a in sub._actions:
            for opt in a.option_strings:
                assert opt in html, (name, opt)
    # one name per meaning: the synonyms once found are gone, and every command on a run
    # says the same things the same way
    names = option_table()
    for gone in ("--n", "--steps", "--num-samples", "--n-samples", "--quiet"):
        assert gone not in names, gone
    everywhere = set(commands) - {"datasets", "presets"}
    assert set(names["--no-progress"]) >= everywhere - {"reproduce"} | {"reproduce"}
    assert set(names["--json"]) >= everywhere


def test_formulas_render_offline_and_code_fits(site):
    from tests.report.browser import Browser, chromium

    if chromium() is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where it can)")
    assert not re.search(r'src="https?://', (site / "tutorials" / "bounds.html").read_text())
    b = Browser()
    try:
        for page in ("tutorials/bounds.html", "tutorials/likelihood.html", "cli.html"):
            b.open(site / page)
            if page.startswith("tutorials"):
                rendered = b.js("""new Promise(done => { let n = 0; const t = setInterval(() => {
                    const k = document.querySelectorAll('mjx-container').length;
                    if (k > 0 || ++n > 100) { clearInterval(t); done(k); } }, 100); })""")
                assert rendered > 5, page
                text = b.js("document.body.innerText")
                assert "\\(" not in text and "$$" not in text, page
            overflow = b.js("Array.from(document.querySelectorAll('pre'))"
                            ".filter(p => p.scrollWidth > p.clientWidth + 1).length")
            assert overflow == 0, page
            assert b.js("Array.from(document.images).filter(i => !(i.complete && "
                        "i.naturalWidth > 0)).length") == 0, page
            assert b.errors() == [], page
    finally:
        b.close()


def test_every_committed_figure_is_shown():
    shown = "".join(p.read_text() for p in [*DOCS.rglob("*.md")])
    for fig in (DOCS / "figures").glob("*.png"):
        assert re.search(rf"!\[[^\]]*\]\([^)]*figures/{fig.name}\)", shown), fig.name


def test_the_pypi_page_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "pypi.md").read_text(), re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "pypi"}
    for block in blocks:
        exec(compile(block, "pypi.md", "exec"), scope)
