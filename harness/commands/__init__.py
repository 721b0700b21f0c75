"""One module per bench command; harness/cli.py builds the parser from them.

A command is a module with ``COMMAND = Command(...)`` plus one line in
COMMANDS. Its module is imported whenever bench starts (to build --help), so
it imports only what its arguments need; the work imports the rest late
(no torch for ``bench boards``, ``report``, ``doctor`` or ``--help``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from harness.registry import Registry


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: Registry[Command] = Registry("command", {
    "boards": "harness.commands.boards:COMMAND",
    "datasets": "harness.commands.datasets:COMMAND",
    "build": "harness.commands.build:COMMAND",
    "flash": "harness.commands.flash:COMMAND",
    "run": "harness.commands.run:COMMAND",
    "profile": "harness.commands.profile:COMMAND",
    "fidelity": "harness.commands.fidelity:COMMAND",
    "sweep": "harness.commands.sweep:COMMAND",
    "worker": "harness.commands.worker:COMMAND",
    "export": "harness.commands.export:COMMAND",
    "baseline": "harness.commands.baseline:COMMAND",
    "check": "harness.commands.check:COMMAND",
    "report": "harness.commands.report:COMMAND",
    "import-cubeai": "harness.commands.import_cubeai:COMMAND",
    "power": "harness.commands.power:COMMAND",
    "doctor": "harness.commands.doctor:COMMAND",
    "demo": "harness.commands.demo:COMMAND",
})
