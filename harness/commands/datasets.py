"""bench datasets: the data sets bench knows, their task, splits, source and licence."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from rich import box
from rich.table import Table

from harness.commands import Command
from harness.commands.options import add_data_dir
from harness.commands.show import out
from harness.datasets import DATASETS
from harness.kinds import Task
from harness.paths import data_dir_from_env


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print every dataset's facts and availability as JSON")
    add_data_dir(p)


def describe(data_dir: Path | None) -> list[dict]:
    """Every registry dataset's facts and whether it can be loaded here
    (nothing is loaded: a package's file or an archive's folder is looked for)."""
    rows = []
    for name in DATASETS:
        s = DATASETS.load(name)
        ok, detail = s.available(data_dir)
        rows.append({"name": s.name, "title": s.title, "task": str(s.task),
                     "classes": s.classes, "sample_shape": list(s.sample_shape),
                     "splits": dict(s.splits), "origin": str(s.origin), "source": s.source,
                     "licence": s.licence, "licence_source": s.licence_source,
                     "notes": s.notes, "looks_for": s.looks_for or None,
                     "available": ok, "detail": detail})
    return rows


def task_cell(row: dict) -> str:
    if row["task"] == Task.CLASSIFICATION:
        return f"{row['classes']} classes"
    return row["task"]


def count(n: int | None) -> str:
    return "?" if n is None else str(n)


def split_cell(splits: dict, name: str) -> str:
    """Samples in a split: "-" without that split, "?" where your copy decides."""
    return count(splits[name]) if name in splits else "-"


def run(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or data_dir_from_env()
    rows = describe(data_dir)
    if args.json:
        print(json.dumps({"data_dir": str(data_dir) if data_dir else None, "datasets": rows},
                         indent=2))
        return 0
    # One row per dataset, fitting 80 columns; what each one is, where its
    # data comes from, its licence's source and how it differs from the
    # published set are the numbered notes below.
    t = Table(title="datasets", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
              collapse_padding=True)
    for col in ("#", "dataset", "task", "shape", "test/train", "licence", "here"):
        t.add_column(col, no_wrap=True, justify="right" if col == "#" else "left")
    for i, r in enumerate(rows, 1):
        split = r["splits"]
        t.add_row(str(i), r["name"], task_cell(r), "x".join(map(str, r["sample_shape"])),
                  f"{split_cell(split, 'test')}/{split_cell(split, 'train')}",
                  r["licence"], "yes" if r["available"] else "no",
                  end_section=r["origin"] != rows[i]["origin"] if i < len(rows) else False)
    out.print(t)
    out.print()
    where = f"--data-dir {data_dir}" if data_dir else "no --data-dir or BENCH_DATA given"
    out.print(textwrap.fill(f"Package sets load offline; archive loaders read your copies "
                            f"({where}). Notes:", width=79), highlight=False, soft_wrap=True)
    for i, r in enumerate(rows, 1):
        others = ", ".join(f"{k} {count(v)}" for k, v in r["splits"].items()
                           if k not in ("test", "train"))
        lines = [f"[{i}] {r['name']}: {r['title']}",
                 f"    source: {r['source']}",
                 f"    licence: {r['licence']} ({r['licence_source']})"]
        if others:
            lines.append(f"    other splits: {others}")
        if r["notes"]:
            lines.append(f"    differs: {r['notes']}")
        lines.append(f"    here: {'yes' if r['available'] else 'no'}, {r['detail']}")
        for k, line in enumerate(lines):
            out.print(textwrap.fill(line, width=79, subsequent_indent="        " if k else "    "),
                      highlight=False, soft_wrap=True)
    return 0


COMMAND = Command("datasets", "list the data sets bench knows: task, splits, source, licence",
                  add_arguments, run)
