"""The project's shape (issue 24): no import circles anywhere, a sync/ that reads by concept,
and no slot ownership carried by a ContextVar."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.structure import PACKAGES, ROOT, find_cycle, import_graph, imported, modules

MAX_SYNC_TOP_LEVEL = 10


def test_no_import_circles_in_the_project() -> None:
    graph = import_graph(*PACKAGES)
    assert find_cycle(graph) is None, f"import circle: {' -> '.join(find_cycle(graph) or [])}"


def test_sync_has_at_most_ten_top_level_modules() -> None:
    """Packages count as one each; `__init__.py` files stay without logic."""
    sync = ROOT / "sync"
    top = sorted(
        p.name
        for p in sync.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists()
    )
    assert len(top) <= MAX_SYNC_TOP_LEVEL, top
    inits = [p for p in sync.rglob("__init__.py") if ast.parse(p.read_text()).body]
    assert not inits, f"logic in {inits}"


def test_the_graph_sees_local_and_type_only_imports(tmp_path: Path) -> None:
    """A circle hidden by a local or TYPE_CHECKING import is still a circle."""
    hidden = tmp_path / "b.py"
    hidden.write_text("def f():\n    from a import x\nif TYPE_CHECKING:\n    import c\n")
    assert imported("b", hidden, {"a", "b", "c"}) == {"a", "c"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_contextvar_in_sync() -> None:
    """Slot ownership travels explicitly (sync/engine/slots.py JobSlot), never in a ContextVar
    that every spawned task would inherit."""
    users = [
        str(path.relative_to(ROOT))
        for path in modules("sync").values()
        if "ContextVar" in path.read_text() or "contextvars" in path.read_text()
    ]
    assert not users, users


def test_webhook_errors_are_answered_one_way() -> None:
    """Every refusal in web/ is an HTTPProblem rendered by one handler: no view builds its own
    error body (issue 24: webhooks answered errors three ways)."""
    builders = [
        str(path.relative_to(ROOT))
        for path in modules("web").values()
        if path.name != "errors.py" and '"ok": False' in path.read_text()
    ]
    assert not builders, builders
