"""The simulators stay composed, not stacked: shallow classes, no import circles in sandbox/."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from tests.structure import find_cycle, import_graph, imported, modules

MAX_DEPTH = 4  # the class itself and its bases, `object` not counted


def test_no_import_circles_in_sandbox() -> None:
    graph = import_graph("sandbox")
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph) or [])}"


def test_simulator_classes_are_at_most_four_deep() -> None:
    deep = []
    for name in modules("sandbox"):
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
    here = Path(__file__)  # imports `tests.structure` at the top
    assert imported("sandbox.x", here, {"tests.structure", "sandbox.x"}) == {"tests.structure"}

    class A: ...

    class B(A): ...

    class C(B): ...

    class D(C): ...

    class E(D): ...

    assert len([c for c in E.__mro__ if c is not object]) > MAX_DEPTH
