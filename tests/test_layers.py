"""The layers of DESIGN.md §1: every module imports only its own layer and those below it,
and no two modules import each other, however indirectly.

Imports are read from the source (module level and inside functions alike), so a lazy
import that goes up a layer counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "ledger"

# Lowest first. A module belongs to the first layer with a name equal to it or a package
# prefix of it; the package itself (`ledger`, the public surface) is the top.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # The definitions the kernels and their twins share with everything above them.
    ("constants", ("ledger.codes", "ledger.columns", "ledger.errors", "ledger.limits")),
    (
        "kernels",
        ("ledger._native", "ledger._reference", "ledger._rollup_reference", "ledger._reconcile_reference"),
    ),
    (
        "core",
        (
            "ledger.money",
            "ledger.periods",
            "ledger.records",
            "ledger.keys",
            "ledger.schemas",
            "ledger.chain",
            "ledger.posting",
            "ledger.catalog",
            "ledger.journal",
            "ledger.snapshot",
            "ledger.rollup",
            "ledger.match",
            "ledger.trees",
        ),
    ),
    ("store", ("ledger.store",)),
    (
        "service",
        (
            "ledger.service",
            "ledger.replica",
            "ledger.rollups",
            "ledger.verify",
            "ledger.files",
            "ledger.reports",
        ),
    ),
    ("domain", ("ledger.fiscal",)),
    # the tools: the command, the demo, the test helpers, the schemas/ export
    ("edges", ("ledger.cli", "ledger.demo", "ledger.testing", "ledger.export", "ledger")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, str]:
    """Every module of the package: name -> source."""
    return {module_name(p): p.read_text() for p in sorted(ROOT.rglob("*.py"))}


def imports(name: str, source: str, known: set[str]) -> set[str]:
    """The package's modules that `source` (module `name`) imports."""
    found: set[str] = set()
    package = name if f"{name}.__init__" in known or any(k.startswith(name + ".") for k in known) else None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "ledger"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                anchor = (package or name.rsplit(".", 1)[0]).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "ledger":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {m for m in found if m in known} - {name}


def layer_of(name: str) -> int:
    best = None
    for rank, (_, members) in enumerate(LAYERS):
        for member in members:
            if (name == member or name.startswith(member + ".")) and (
                best is None or len(member) > len(best[1])
            ):
                best = (rank, member)
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best[0]


def graph(sources: dict[str, str]) -> dict[str, set[str]]:
    known = set(sources)
    return {name: imports(name, source, known) for name, source in sources.items()}


def upward(edges: dict[str, set[str]]) -> list[str]:
    """Every import of a module in a higher layer, as 'a -> b'."""
    return sorted(
        f"{name} ({LAYERS[layer_of(name)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
        for name, targets in edges.items()
        for target in targets
        if layer_of(target) > layer_of(name)
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among the modules (each found once, from its smallest name). A package
    importing its own submodules is not a cycle by itself: only a path back counts."""
    found = []
    for start in sorted(edges):
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for target in sorted(edges[node]):
                if target == start:
                    if min(path) == start and not _package_and_member(path):
                        found.append([*path, start])
                elif target not in seen and target > start:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    return found


def _package_and_member(path: list[str]) -> bool:
    """A two-module loop of a package and a module inside it (e.g. ledger.store and
    ledger.store.base): Python's import of a submodule sets it on the package."""
    return len(path) == 2 and (path[1].startswith(path[0] + ".") or path[0].startswith(path[1] + "."))


def test_every_module_is_in_a_layer() -> None:
    for name in modules():
        layer_of(name)


def test_no_module_imports_a_layer_above_it() -> None:
    assert upward(graph(modules())) == []


def test_no_import_cycle() -> None:
    assert cycles(graph(modules())) == []


@pytest.mark.parametrize(
    ("module", "planted"),
    [
        ("ledger.journal", "from ledger.store.base import BatchRows\n"),
        ("ledger.columns", "def f():\n    from ledger.service import Ledger\n"),
        ("ledger.store.sqlite", "import ledger.cli\n"),
    ],
)
def test_a_planted_upward_import_is_caught(module: str, planted: str) -> None:
    sources = modules()
    sources[module] = planted + sources[module]
    assert any(line.startswith(f"{module} ") for line in upward(graph(sources)))


def test_a_planted_cycle_is_caught() -> None:
    sources = modules()
    sources["ledger.codes"] = "from ledger import money\n" + sources["ledger.codes"]
    sources["ledger.money"] = "from ledger import codes\n" + sources["ledger.money"]
    assert any({"ledger.codes", "ledger.money"} <= set(cycle) for cycle in cycles(graph(sources)))
