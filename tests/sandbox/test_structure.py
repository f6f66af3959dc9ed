"""The simulators stay composed, not stacked: shallow classes, no import circles in sandbox/."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import sandbox

ROOT = Path(sandbox.__file__).parent
MAX_DEPTH = 4  # the class itself and its bases, `object` not counted


def sandbox_modules() -> dict[str, Path]:
    """Every module of the sandbox package by dotted name."""
    found = {"sandbox": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="sandbox."):
        module = importlib.import_module(info.name)
        assert module.__file__ is not None
        found[info.name] = Path(module.__file__)
    return found


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The sandbox modules `module` imports anywhere: top level, in functions, TYPE_CHECKING."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` just mod
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.append(full if full in known else base)
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_circles_in_sandbox() -> None:
    modules = sandbox_modules()
    known = set(modules)
    graph = {name: imported(name, path, known) for name, path in modules.items()}
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph) or [])}"


def test_simulator_classes_are_at_most_four_deep() -> None:
    deep = []
    for name in sandbox_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name:
                continue
            depth = len([c for c in cls.__mro__ if c is not object])
            if depth > MAX_DEPTH:
                deep.append(f"{name}.{cls.__qualname__}: {depth}")
    assert not deep, deep


def test_the_checks_see_a_circle_and_a_deep_class() -> None:
    """The circle finder is not blind (a test that cannot fail proves nothing)."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    here = Path(__file__)  # imports `sandbox` at the top
    assert imported("sandbox.x", here, {"sandbox", "sandbox.x"}) == {"sandbox"}

    class A: ...

    class B(A): ...

    class C(B): ...

    class D(C): ...

    class E(D): ...

    assert len([c for c in E.__mro__ if c is not object]) > MAX_DEPTH
