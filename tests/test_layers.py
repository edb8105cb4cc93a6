"""The import graph follows the data flow: no upward import, no cycle.

scenario -> models -> engine (and its result) -> KPIs/analysis -> plotting ->
report/widgets/CLI.  Imports are read from the source (``ast``), including
those inside functions; imports under ``if TYPE_CHECKING:`` are type hints
only and are ignored.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "simkit"

#: Layer of every module, by dotted-name prefix (the longest prefix wins).
LAYERS: dict[str, int] = {
    # 0: inputs
    "simkit.errors": 0,
    "simkit.units": 0,
    "simkit.scenario": 0,
    "simkit.io": 0,
    "simkit.jit": 0,
    # 1: models (pure functions on arrays)
    "simkit.workload": 1,
    "simkit.split_kernel": 1,
    "simkit.failures": 1,
    "simkit.effects": 1,
    "simkit.queueing": 1,
    "simkit.transient": 1,
    "simkit.database": 1,
    "simkit.deploys": 1,
    "simkit.regions": 1,
    "simkit.chaos": 1,
    "simkit.kafka": 1,
    "simkit.cost": 1,
    "simkit.detection": 1,
    "simkit.anomaly": 1,
    "simkit.forecasting": 1,
    "simkit.autoscaling": 1,
    # 2: the engine and the result it fills
    "simkit.clock": 2,
    "simkit.control": 2,
    "simkit.control_kernel": 2,
    "simkit.outcome": 2,
    "simkit.outcome_kernel": 2,
    "simkit.result": 2,
    "simkit.windows": 2,
    "simkit.window_kernel": 2,
    "simkit.engine": 2,
    # 3: KPIs and analysis of results
    "simkit.analysis": 3,
    "simkit.monitoring": 3,
    "simkit.training": 3,
    "simkit.sweep": 3,
    # 4: figures
    "simkit.plotting": 4,
    # 5: front ends
    "simkit.report": 5,
    "simkit.widgets": 5,
    "simkit.cli": 5,
    "simkit.__main__": 5,
    "simkit": 5,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> int:
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = getattr(test, "id", None) or getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skip.update(id(n) for n in ast.walk(child))
    return skip


def imports_of(module: str, source: str | None = None) -> set[str]:
    """simkit modules imported by a module (resolved to module names)."""
    text = MODULES[module].read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text)
    skip = _type_checking_nodes(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "simkit")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "simkit":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
    return {m for m in out if m in MODULES and m != module}


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if not any(m == k or m.startswith(k + ".") for k in LAYERS)]
    assert not missing


def upward_imports(sources: dict[str, str | None]) -> list[str]:
    """Violations of the layering among ``sources`` (module -> text, None: read it)."""
    return [
        f"{m} (layer {layer(m)}) imports {dep} (layer {layer(dep)})"
        for m, text in sources.items()
        for dep in sorted(imports_of(m, text))
        if layer(dep) > layer(m)
    ]


def test_no_module_imports_a_module_above_it() -> None:
    upward = upward_imports(dict.fromkeys(MODULES))
    assert not upward, "\n".join(upward)


def _parents(module: str) -> list[str]:
    """Sub-packages Python imports before a module (the root package excluded)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def test_import_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for m in MODULES:
        deps = set()
        for dep in imports_of(m):
            deps.add(dep)
            deps.update(p for p in _parents(dep) if not m.startswith(p + ".") and p != m)
        graph[m] = {d for d in deps if d != "simkit"}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_checker_sees_an_upward_import() -> None:
    """The check can fail: a model importing the engine inside a function is reported,
    a type-checking-only import is not."""
    bad = "def f():\n    from simkit.engine import simulate\n    return simulate\n"
    hint = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from simkit import engine\n"
    assert upward_imports({"simkit.database": bad}) == [
        "simkit.database (layer 1) imports simkit.engine (layer 2)"
    ]
    assert upward_imports({"simkit.database": hint}) == []
