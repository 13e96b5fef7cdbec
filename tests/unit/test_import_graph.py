"""The shape of the code, checked from its source: what may import what, and where SQL lives.

Read with ``ast`` (no module is imported), so the check is the same whatever is installed.
Every import counts, including those inside functions and under ``TYPE_CHECKING``: a lazy
import hides a cycle from the interpreter, not from the reader.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "probes")
# Where SQL may be written: the store, and the migrations that own the schema.
SQL_HOMES = ("app/store/", "migrations/")


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "app.store.ingest"; a package is named by its __init__
    path: Path
    is_package: bool

    @property
    def unit(self) -> str:
        """The top-level part it belongs to: ``app.store``, ``app.metrics``, ``probes.sink``."""
        return ".".join(self.name.split(".")[:2])


def modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = Module(".".join(parts), path, is_package)
    return found


def imported_names(module: Module, known: Mapping[str, Module]) -> Iterator[str]:
    """Every module ``module`` imports, by absolute name.

    ``from a import b`` is an import of ``a.b`` when that is a module of ours (``from
    app.store import audit``), else of ``a``.
    """
    for node in ast.walk(ast.parse(module.path.read_text(), str(module.path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.name.split(".")
                if not module.is_package:
                    package.pop()
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, node.module] if node.module else package)
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in known else base


def import_graph(found: Mapping[str, Module]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    return {
        name: {target for target in imported_names(module, found) if target in found} - {name}
        for name, module in found.items()
    }


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def describe(component: list[str], graph: Mapping[str, set[str]]) -> str:
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph.get(a, ())) if b in component]
    return "; ".join(edges)


def test_no_cycle_between_modules() -> None:
    graph = import_graph(modules())
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(describe(c, graph) for c in found)


def test_no_cycle_between_packages() -> None:
    found_modules = modules()
    graph = import_graph(found_modules)
    units: dict[str, set[str]] = {}
    for name, targets in graph.items():
        unit = found_modules[name].unit
        units.setdefault(unit, set())
        units[unit] |= {found_modules[t].unit for t in targets} - {unit}
    found = cycles(units)
    assert not found, "package cycles: " + " | ".join(describe(c, units) for c in found)


def test_the_sla_core_imports_only_the_standard_library() -> None:
    found_modules = modules()
    outside = sorted(
        f"{name} imports {target}"
        for name, module in found_modules.items()
        if name == "app.sla" or name.startswith("app.sla.")
        for target in imported_names(module, found_modules)
        if target.split(".")[0] not in sys.stdlib_module_names
        and not (target == "app.sla" or target.startswith("app.sla."))
    )
    assert not outside, "app/sla must stay pure: " + ", ".join(outside)


# What an ORM session does besides execute, called on a variable named like one.
SESSION_NAMES = ("session", "db")
SESSION_CALLS = ("get", "add", "add_all", "delete", "merge", "scalar", "scalars", "query")


def sql_calls(path: Path) -> Iterator[tuple[int, str]]:
    """``select(...)``, ``<anything>.execute(...)`` and ``session.get(...)``-like calls."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id in SESSION_NAMES
            and function.attr in SESSION_CALLS
        ):
            yield node.lineno, f"{function.value.id}.{function.attr}"
            continue
        name = (
            function.id
            if isinstance(function, ast.Name)
            else function.attr
            if isinstance(function, ast.Attribute)
            else None
        )
        if name in ("select", "execute"):
            yield node.lineno, name


def test_sql_only_in_the_store_and_migrations() -> None:
    offenders = []
    for package in (*PACKAGES, "migrations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(SQL_HOMES):
                continue
            offenders += [f"{relative}:{line} {name}(" for line, name in sql_calls(path)]
    assert not offenders, "SQL outside app/store/: " + ", ".join(offenders)


def test_the_checks_see_what_they_look_for() -> None:
    """The checks above would pass on an empty graph; make sure they read the real one."""
    found_modules = modules()
    graph = import_graph(found_modules)
    assert {"app.sla.evaluate", "app.store.ingest", "probes.runner"} <= set(found_modules)
    assert "app.store.models" in graph["app.store.exclusions"]
    assert "app.store.audit" in graph["app.store.exclusions"]  # from app.store import audit
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert list(sql_calls(ROOT / "app/store/exclusions.py")), "the store's own queries are seen"
