"""The shape of harness/: no import cycles, and layers that only point down.

Read statically (every ``import`` anywhere in a module, function bodies
included), so a late import does not hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "harness"

# Lowest first. A module may import its own layer and the ones below.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "paths", "kinds", "registry", "checks", "processes"),
    ("model", "datasets", "boards", "link", "metrics", "store", "train", "snn_metrics",
     "snn_energy"),
    ("quant",),
    ("engines", "export"),
    ("build", "fpga"),
    ("flash", "power", "backends"),
    ("run", "imports", "profile", "demo"),
    ("sweep", "report"),
    ("commands",),
    ("cli",),
]


def modules() -> dict[str, Path]:
    out = {}
    for p in HARNESS.rglob("*.py"):
        parts = p.relative_to(HARNESS.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The harness modules ``name`` imports (a package counts as its __init__)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def add(target: str) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer: add harness/{top} to LAYERS")


def test_the_checker_sees_imports_and_cycles() -> None:
    edges = graph()
    assert "harness.engines.base" in edges["harness.engines.native.engine"]
    assert "harness.model.load" in edges["harness.run.prepare"]  # a top-level import
    assert "harness.run.execute" in edges["harness.commands.run"]  # a late import
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_layers_only_point_down() -> None:
    up = [f"{m} -> {t}" for m, targets in graph().items() for t in targets
          if m != "harness" and t != "harness" and layer_of(t) > layer_of(m)]
    assert up == []
