"""Sphinx configuration: the documentation site, built from the docstrings and the tutorials
(``sphinx-build -W -b html docs docs/_build/html``; the test suite builds it too).

Two parts are generated here, at every build, so they cannot drift from the code: the API
reference (``api/``, one page per subpackage, every module of it) and the command-line
reference (``cli.md``, from the parsers). Formulas render offline: MathJax comes from the
``sphinx-mathjax-offline`` package and is copied into the site, nothing loads from a CDN.
"""

import pkgutil
from pathlib import Path

import vaelab

HERE = Path(__file__).parent
project = "vaelab"
release = version = vaelab.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser",
              "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 2
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "pypi.md", "**/*.ipynb", "**/.ipynb_checkpoints"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["vaelab.css"]
html_theme_options = {"page_width": "1100px"}

# the API reference: one page per subpackage, in reading order
SUBPACKAGES = {
    "models": "Models and the protocol", "distributions": "Distributions",
    "objectives": "Bounds and objectives", "estimators": "Gradient estimators",
    "eval": "Evaluation", "info": "Information", "training": "Training and runs",
    "reproduce": "Published tables", "data": "Data", "viz": "Figures",
    "report": "The report", "cli": "The command line",
}


def _write(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:  # untouched pages stay fresh for Sphinx
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _generate() -> None:
    api = HERE / "api"
    index = ["# API reference", "", "Generated from the docstrings, one page per subpackage. "
             "The model protocol (`vaelab.models.base`) comes first: everything else is "
             "written against it.", "", "```{toctree}", ":maxdepth: 1", ""]
    for name, title in SUBPACKAGES.items():
        pkg = __import__(f"vaelab.{name}", fromlist=["_"])
        mods = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__))
        if name == "models":
            mods.remove("base")
            mods.insert(0, "base")
        body = [f"# {title}: `vaelab.{name}`", "", "```{eval-rst}"]
        body += [f".. automodule:: vaelab.{name}.{m}" for m in mods if not m.startswith("_")]
        _write(api / f"{name}.md", "\n".join(body + ["```", ""]))
        index.append(name)
    top = ["", "# Top level", "", "```{eval-rst}"]
    top += [f".. automodule:: vaelab.{m.name}" for m in pkgutil.iter_modules(vaelab.__path__)
            if not m.ispkg and not m.name.startswith("_")]
    top += ["```", ""]
    _write(api / "index.md", "\n".join(index + ["```", *top]))
    from vaelab.cli.reference import markdown

    _write(HERE / "cli.md", markdown())


_generate()
