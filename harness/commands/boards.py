"""bench boards: the boards, their backends, and whether each backend runs here."""

from __future__ import annotations

import argparse
import json

from rich import box
from rich.table import Table

from harness.backends import all_boards, get_backend
from harness.commands import Command
from harness.commands.show import out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the boards, their backends and availability as JSON")


def describe() -> list[dict]:
    """Every board's facts and, per backend, whether it can run here."""
    found: dict[str, tuple[bool, str]] = {}
    boards = []
    for b in all_boards().values():
        backends = []
        for name in b.backends:
            if name not in found:
                found[name] = get_backend(name).available()
            backend = get_backend(name)
            ok, detail = found[name]
            backends.append({"name": name, "title": backend.title, "emulator": backend.emulator,
                             "available": ok, "detail": detail})
        boards.append({"name": b.name, "kind": b.kind, "title": b.title, "part": b.part,
                       "core": b.core,
                       "clock_hz": b.clock_hz, "rom_bytes": b.rom_bytes,
                       "ram_bytes": b.ram_bytes, "backends": backends})
    return boards


def _sizes(rom: int, ram: int) -> str:
    """Flash/RAM in K, or in M where both are whole megabytes (the column stays narrow)."""
    mb = 1 << 20
    if rom % mb == 0 and ram % mb == 0:
        return f"{rom // mb}/{ram // mb}M"
    return f"{rom // 1024}/{ram // 1024}K"


def run(args: argparse.Namespace) -> int:
    boards = describe()
    if args.json:
        print(json.dumps(boards, indent=2))
        return 0
    # One row per board and backend; each reason a backend cannot run is
    # said once, below the table, so the table fits 80 columns.
    notes: dict[str, int] = {}
    t = Table(title="boards", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("board", "part", "MHz", "flash/RAM", "backend", "kind", "here"):
        t.add_column(col, no_wrap=True)
    for b in boards:
        for k, be in enumerate(b["backends"]):
            if be["available"]:
                here = "yes"
            else:
                note = notes.setdefault(f"{be['name']}: {be['detail']}", len(notes) + 1)
                here = f"no [{note}]"
            first = k == 0
            t.add_row(b["name"] if first else "", b["part"] if first else "",
                      f"{b['clock_hz'] / 1e6:g}" if first else "",
                      ("FPGA" if b["kind"] == "fpga" else
                       _sizes(b["rom_bytes"], b["ram_bytes"])) if first else "",
                      be["name"], "emulator" if be["emulator"] else "board", here,
                      end_section=k == len(b["backends"]) - 1)
    out.print(t)
    for text, n in notes.items():
        out.print(f"[{n}] {text}", highlight=False)
    return 0


COMMAND = Command("boards", "list boards, their backends and what runs here", add_arguments,
                  run)
