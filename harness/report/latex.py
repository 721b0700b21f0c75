"""The report as LaTeX: a booktabs table per model and dataset."""

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
from harness.report.snn import SNN_TABLE_TITLE, snn_cells, snn_head, snn_rows

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _tex_tabular(head: list[str], rows: list[list[str]], align: str) -> list[str]:
    return ([f"\\begin{{tabular}}{{{align}}}", "\\toprule",
             " & ".join(tex(h) for h in head) + r" \\", "\\midrule"]
            + [" & ".join(tex(c) for c in r) + r" \\" for r in rows]
            + ["\\bottomrule", "\\end{tabular}"])


def render(c: Comparison, output: Path | None = None) -> str:
    """A booktabs tabular per group (needs \\usepackage{booktabs})."""
    out = ["% bench results: one booktabs table per model/dataset (\\usepackage{booktabs})",
           *("% " + n for n in notes(c))]
    head = measured_head(c.cpi)
    for g in c.groups:
        out += ["", "\\begin{table}[ht]", "\\centering", "\\small",
                f"\\caption{{{tex(g.title)}}}"]
        out += _tex_tabular(head, [measured_cells(r, c.cpi) for r in g.rows],
                            "llll" + "r" * (len(head) - 4))
        if snn := snn_rows(g):
            out += ["", "\\medskip", tex(SNN_TABLE_TITLE) + ":", "", "\\medskip"]
            out += _tex_tabular(snn_head(), [snn_cells(r) for r in snn],
                                "ll" + "r" * (len(snn_head()) - 2))
        if g.published:
            out += ["", "\\medskip", "Published figures for the same part or network (not "
                    "measured here, not in the ratios):", "", "\\medskip"]
            out += _tex_tabular(list(PUBLISHED_HEAD), [published_cells(p) for p in g.published],
                                "l" * len(PUBLISHED_HEAD))
        out.append("\\end{table}")
    if c.other_published:
        out += ["", "\\begin{table}[ht]", "\\centering", "\\small",
                "\\caption{Published figures (no measured run on the same part or network)}"]
        out += _tex_tabular(list(PUBLISHED_HEAD),
                            [published_cells(p) for p in c.other_published],
                            "l" * len(PUBLISHED_HEAD))
        out.append("\\end{table}")
    return "\n".join(out) + "\n"
