"""The README's first lines give the two commands, and its Python examples run as written."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1].splitlines()
    commands = [line.split("#")[0].strip() for line in first_block[1:] if line.strip()]
    assert commands == ["make run", "make test"]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)  # the examples write runs/ under the working directory
    monkeypatch.syspath_prepend(str(tmp_path))
    scope: dict = {"__name__": "readme"}
    for b in blocks:  # later blocks build on earlier ones; "# name.py" blocks are files
        if b.startswith("# ") and b.split("\n", 1)[0].endswith(".py"):
            (tmp_path / b.split("\n", 1)[0][2:]).write_text(b)
            continue
        exec(compile(b, "README.md", "exec"), scope)
    assert (tmp_path / "runs" / "readme-mine" / "model.py").read_text() == blocks[0]


def test_readme_user_model_is_the_tested_fixture():
    """The README's model is the file the protocol tests run (up to its import line)."""
    block = re.findall(r"```python\n(.*?)```", README, re.S)[0]
    fixture = (Path(__file__).parent / "fixtures" / "user_model.py").read_text()
    body = fixture.split("class TinyConvVAE", 1)[1]
    assert body.replace("        self.encoder = nn.Sequential(\n",
                        "        self.encoder = nn.Sequential(  # phi: the submodule named "
                        "\"encoder\"\n") in block
