"""Deal transactions sent to Maileon: per person, what the Newsletter panel lists as recent;
and per event, whether its call is in flight (`deal_sends`).

A send is `sending` from just before the call until Maileon's answer is stored. A job that
finds its event `sending` knows an earlier call may have been applied without its answer
arriving, and checks Maileon before it sends again (sync/deals/handler.py). `uncertain`: that check
was not possible and the job failed for the admin to decide; the admin's Retry sends it again."""

from __future__ import annotations

from typing import Any

from store.db import Store, now

KEEP_PER_PERSON = 50  # the panel shows a handful; older rows are trimmed on each insert


SENDING, UNCERTAIN = "sending", "uncertain"


def send_state(store: Store, company_id: int, event_id: str) -> tuple[str, float] | None:
    """(state, started_at) of an event's send, or None when none is in flight or unsure."""
    row = store.one(
        "SELECT state, started_at FROM deal_sends WHERE company_id=? AND event_id=?",
        (company_id, event_id),
    )
    return None if row is None else (str(row["state"]), float(row["started_at"]))


def sending(store: Store, company_id: int, event_id: str) -> None:
    """Stored before the call: from now on a lost answer is checked, never resent blindly."""
    store.execute(
        "INSERT INTO deal_sends (company_id, event_id, state, started_at) VALUES (?,?,?,?)"
        " ON CONFLICT (company_id, event_id) DO UPDATE SET state=excluded.state,"
        " started_at=excluded.started_at",
        (company_id, event_id, SENDING, now()),
    )


def uncertain(store: Store, company_id: int, event_id: str) -> None:
    store.execute(
        "UPDATE deal_sends SET state=? WHERE company_id=? AND event_id=?",
        (UNCERTAIN, company_id, event_id),
    )


def not_sent(store: Store, company_id: int, event_id: str) -> None:
    """Maileon answered that it did not take the transaction: nothing is in flight."""
    store.execute(
        "DELETE FROM deal_sends WHERE company_id=? AND event_id=?", (company_id, event_id)
    )


def record(
    store: Store,
    *,
    company_id: int,
    person_id: int,
    deal_id: int,
    type_name: str,
    title: str,
    event_id: str = "",
    imported: bool = False,
) -> None:
    """A transaction Maileon took; its send is no longer in flight."""
    with store.tx() as db:
        db.execute(
            "DELETE FROM deal_sends WHERE company_id=? AND event_id=?", (company_id, event_id)
        )
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
