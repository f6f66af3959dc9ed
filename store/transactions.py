"""Deal transactions sent to Maileon, per person: what the Newsletter panel lists as recent."""

from __future__ import annotations

from typing import Any

from store.db import Store, now

KEEP_PER_PERSON = 50  # the panel shows a handful; older rows are trimmed on each insert


def record(
    store: Store,
    *,
    company_id: int,
    person_id: int,
    deal_id: int,
    type_name: str,
    title: str,
    imported: bool = False,
) -> None:
    with store.tx() as db:
        db.execute(
            "INSERT INTO deal_transactions (company_id, person_id, deal_id, type, title,"
            " sent_at, imported) VALUES (?,?,?,?,?,?,?)",
            (company_id, person_id, deal_id, type_name, title, now(), int(imported)),
        )
        db.execute(
            "DELETE FROM deal_transactions WHERE company_id=? AND person_id=? AND id NOT IN"
            " (SELECT id FROM deal_transactions WHERE company_id=? AND person_id=?"
            "  ORDER BY id DESC LIMIT ?)",
            (company_id, person_id, company_id, person_id, KEEP_PER_PERSON),
        )


def recent_transactions(
    store: Store, company_id: int, person_id: int, limit: int = 5
) -> list[dict[str, Any]]:
    """Newest first: dicts with deal_id, type, title, sent_at (epoch seconds) and imported."""
    return store.all(
        "SELECT deal_id, type, title, sent_at, imported FROM deal_transactions "
        "WHERE company_id=? AND person_id=? ORDER BY id DESC LIMIT ?",
        (company_id, person_id, limit),
    )
