"""Imported graphs cached for the session (per xdist worker).

torch.export is most of the cost of importing a model, and many tests
import the same few models (the kernel tests: one per model x dtype x
scheme). Each caller gets its own deep copy, so a test that changes its
graph changes nobody else's. The model factories seed torch themselves: a
cached graph is the graph a fresh import would give.
"""

from __future__ import annotations

import copy
from functools import cache

from harness.model.ir import Graph
from harness.model.load import load_model
from harness.model.lower import import_graph


@cache
def _imported(spec: str, verify: bool) -> Graph:
    module, shape = load_model(spec)
    return import_graph(module, shape, verify=verify)


def imported_graph(spec: str, verify: bool = True) -> Graph:
    """``import_graph(*load_model(spec), verify=verify)``, imported once per session."""
    return copy.deepcopy(_imported(spec, verify))
