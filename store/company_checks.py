"""What the app checked in a company's accounts lately, kept across restarts for as long as
the check holds (its in-memory cache's lifetime, `Context.remember`)."""

from __future__ import annotations

import json
from typing import Any

from store.db import Store, now


def get(store: Store, company_id: int, name: str, ttl: float) -> Any:
    """The value, while it holds (never longer than `ttl` from now: a wall clock stepped back
    does not make an old check last)."""
    t = now()
    raw = store.scalar(
        "SELECT value FROM company_checks WHERE company_id=? AND name=? AND until>? AND until<=?",
        (company_id, name, t, t + ttl),
    )
    return None if raw is None else json.loads(raw)


def put(store: Store, company_id: int, name: str, value: Any, ttl: float) -> None:
    store.execute(
        "INSERT INTO company_checks (company_id, name, value, until) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (company_id, name) DO UPDATE SET value=excluded.value, until=excluded.until",
        (company_id, name, json.dumps(value), now() + ttl),
    )


def forget(store: Store, company_id: int) -> None:
    store.execute("DELETE FROM company_checks WHERE company_id=?", (company_id,))
