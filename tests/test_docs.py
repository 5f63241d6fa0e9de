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


def test_the_site_builds_without_warnings(tmp_path):
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        str(DOCS), str(tmp_path / "html")], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    html = (tmp_path / "html" / "api.html").read_text()
    assert "vaelab.models.base.Model" in html and "log_weights" in html
