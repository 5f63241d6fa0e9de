"""Command-line interface (``vaelab`` / ``python -m vaelab``)."""
