"""Sphinx configuration: the documentation site, built from the docstrings and the tutorials
(``sphinx-build -W -b html docs docs/_build/html``; the test suite builds it too)."""

import vaelab

project = "vaelab"
release = version = vaelab.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser"]
myst_enable_extensions = ["dollarmath"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "pypi.md"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
html_theme = "alabaster"
html_static_path: list[str] = []
