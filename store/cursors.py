"""Named per-company cursors (where the sweep and the Maileon reconciliation resume): the one
module that reads and writes the `cursors` table."""

from __future__ import annotations

from store.db import Store


def get(store: Store, company_id: int, name: str) -> str | None:
    value = store.scalar(
        "SELECT value FROM cursors WHERE company_id=? AND name=?", (company_id, name)
    )
    return str(value) if value is not None else None


def put(store: Store, company_id: int, name: str, value: str) -> None:
    with store.lock:
        store.db.table("cursors").upsert(
            {"company_id": company_id, "name": name, "value": value}, pk=("company_id", "name")
        )


def put_if_missing(store: Store, company_id: int, name: str, value: str) -> None:
    """Set the cursor unless it is set already (a first start, kept across restarts)."""
    with store.lock:
        store.db.table("cursors").insert(
            {"company_id": company_id, "name": name, "value": value},
            pk=("company_id", "name"),
            ignore=True,
        )
