"""Report formats: one module per format plus one line in FORMATS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.registry import Registry
from harness.report.compare import Comparison

# format -> render(comparison, output file or None) -> text
FORMATS: Registry[Callable[[Comparison, Path | None], str]] = Registry("report format", {
    "md": "harness.report.markdown:render",
    "html": "harness.report.html_page:render",
    "csv": "harness.report.csv_table:render",
    "latex": "harness.report.latex:render",
})


def render(c: Comparison, fmt: str, output: Path | None = None) -> str:
    """The report as text; for md with an output file, its PNGs are written beside it."""
    return FORMATS.load(fmt)(c, output)
