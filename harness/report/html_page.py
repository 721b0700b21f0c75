"""The report as one self-contained HTML page: tables, plots embedded as PNG."""

from __future__ import annotations

import base64
import html
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

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.published td { background: #fff8e0; font-style: italic; }
img { max-width: 48%; margin-right: 1%; vertical-align: top; }
p.note { color: #555; max-width: 60em; }
"""


def _html_table(head: list[str], rows: list[list[str]], cls: str = "") -> list[str]:
    tr = f'<tr class="{cls}">' if cls else "<tr>"
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        cells = []
        for c in r:
            num = c[:1].isdigit() or (c[:1] in "+-" and c[1:2].isdigit())
            cells.append(('<td class="n">' if num else "<td>") + html.escape(c) + "</td>")
        out.append(tr + "".join(cells) + "</tr>")
    return out + ["</table>"]


def render(c: Comparison, output: Path | None = None) -> str:
    """One self-contained file: tables, plots as base64 PNG, inline CSS."""
    plots = group_plots(c)
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>bench results</title>",
           f"<style>{_CSS}</style></head><body>", "<h1>bench results</h1>"]
    for i, g in enumerate(c.groups, 1):
        out.append(f"<h2><code>{html.escape(g.model)}</code> on "
                   f"<code>{html.escape(g.dataset)}</code></h2>")
        out += _html_table(measured_head(c.cpi), [measured_cells(r, c.cpi) for r in g.rows])
        if snn := snn_rows(g):
            out.append(f"<p>{html.escape(SNN_TABLE_TITLE)}:</p>")
            out += _html_table(snn_head(), [snn_cells(r) for r in snn])
        if g.published:
            out.append("<p>Published figures for the same part or network (not measured here, "
                       "not in the ratios):</p>")
            out += _html_table(list(PUBLISHED_HEAD), [published_cells(p) for p in g.published],
                               "published")
        for p in plots.get(i, []):
            data = base64.b64encode(p.png).decode()
            out.append(f"<img alt=\"{html.escape(p.title)}\" title=\"{html.escape(p.title)}\" "
                       f"src=\"data:image/png;base64,{data}\">")
    if c.other_published:
        out.append("<h2>Published figures (no measured run on the same part or network)</h2>")
        out += _html_table(list(PUBLISHED_HEAD),
                           [published_cells(p) for p in c.other_published], "published")
    out += [f"<p class=\"note\">{html.escape(n)}</p>" for n in notes(c)]
    out.append("</body></html>")
    return "\n".join(out) + "\n"
