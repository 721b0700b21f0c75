"""The report as Markdown; with an output file, its plots as PNGs beside it."""

from __future__ import annotations

from pathlib import Path

from harness.report.cells import (
    PUBLISHED_HEAD,
    measured_cells,
    measured_head,
    notes,
    published_cells,
)
from harness.report.compare import Comparison
from harness.report.plots import group_plots
from harness.report.snn import SNN_TABLE_TITLE, snn_cells, snn_head, snn_rows


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows])


def render(c: Comparison, images: Path | None = None) -> str:
    """Markdown; with ``images`` (the output file) the plots are written as
    PNGs beside it and linked."""
    lines = ["# bench results", ""]
    plots = group_plots(c) if images is not None else {}
    for i, g in enumerate(c.groups, 1):
        lines += [f"## `{g.model}` on `{g.dataset}`", ""]
        lines += _md_table(measured_head(c.cpi), [measured_cells(r, c.cpi) for r in g.rows])
        if snn := snn_rows(g):
            lines += ["", SNN_TABLE_TITLE + ":", ""]
            lines += _md_table(snn_head(), [snn_cells(r) for r in snn])
        if g.published:
            lines += ["", "Published figures for the same part or network (not measured here, "
                      "not in the ratios):", ""]
            lines += _md_table(list(PUBLISHED_HEAD), [published_cells(p) for p in g.published])
        for p in plots.get(i, []):
            assert images is not None
            path = images.with_name(f"{images.stem}-{p.name}.png")
            path.write_bytes(p.png)
            lines += ["", f"![{p.title}]({path.name})"]
        lines.append("")
    if c.other_published:
        lines += ["## Published figures (no measured run on the same part or network)", ""]
        lines += _md_table(list(PUBLISHED_HEAD), [published_cells(p) for p in c.other_published])
        lines.append("")
    lines += [n + "\n" for n in notes(c)]
    return "\n".join(lines)
