"""The folders show the layers (README, "How it fits together"): imports only point down, and
there are no import circles. Read from the source, so a new module is checked the day it lands."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stylometry", "rag", "finetune", "serving", "benchmarks")
# Bottom to top; a module may import its own layer's package and anything below it.
LAYERS = (
    ("stylometry",),
    ("rag",),
    ("serving.foundation",),
    ("finetune",),
    ("serving.engine",),
    ("serving.registry", "serving.continue_config"),
    ("serving.proxy",),
    ("serving.evaluation",),
    ("serving.stack",),
    ("serving.cli",),
    ("benchmarks",),
)
STANDALONE = {"stylometry", "rag"}  # import nothing of ours but themselves


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "reports" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules this file imports (at any depth: lazy imports are arrows too)."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                targets.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t in known}


def layer_of(module: str) -> tuple[int, str]:
    if module == "serving":  # the bare package: a docstring, no imports
        return 2, "serving.foundation"
    for rank, groups in enumerate(LAYERS):
        for group in groups:
            if module == group or module.startswith(group + "."):
                return rank, group
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def test_imports_point_down() -> None:
    upward = []
    for source, targets in graph().items():
        rank, group = layer_of(source)
        for target in targets:
            target_rank, target_group = layer_of(target)
            if group in STANDALONE and target_group != group:
                upward.append(f"{source} -> {target} ({group} imports nothing of ours)")
            elif target_rank > rank or (target_rank == rank and target_group != group):
                upward.append(f"{source} -> {target}")
    assert not upward, "imports that climb a layer:\n" + "\n".join(sorted(upward))


def test_no_import_circles() -> None:
    edges = graph()
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in edges:
        if node not in order:
            visit(node)
    assert not circles, f"import circles: {circles}"
