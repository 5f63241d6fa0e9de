"""The browser report: ``write_report(run_dirs, out)`` (``vaelab report``)."""

from vaelab.report.page import write_report

__all__ = ["write_report"]
