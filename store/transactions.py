"""Deal transactions sent to Maileon: per person, what the Newsletter panel lists as recent;
and per event, whether its call is in flight or done (`deal_sends`).

A send is `sending` from just before the call until Maileon's answer is stored. A job that
finds its event `sending` knows an earlier call may have been applied without its answer
arriving, and checks Maileon before it sends again (sync/deals/handler.py). `uncertain`: that check
was not possible and the job failed for the admin to decide; the admin's Retry sends it again.
`sent`: Maileon took it; `digest` names what was sent, so the same change run again (the job
re-run after a crash between this record and the job's end, or queued again by an import) is
not sent twice. Rows are pruned with the finished jobs (store/jobs.py)."""

from __future__ import annotations

from typing import Any, NamedTuple

from store.db import Store, now

KEEP_PER_PERSON = 50  # the panel shows a handful; older rows are trimmed on each insert


SENDING, UNCERTAIN, SENT = "sending", "uncertain", "sent"


class SendState(NamedTuple):
    state: str
    started_at: float  # epoch seconds; for `sent`, when Maileon's answer was stored
    digest: str  # for `sent`: what was sent


def send_state(store: Store, company_id: int, event_id: str) -> SendState | None:
    """An event's send, or None when none is known (never sent, or Maileon refused it)."""
    row = store.one(
        "SELECT state, started_at, digest FROM deal_sends WHERE company_id=? AND event_id=?",
        (company_id, event_id),
    )
    if row is None:
        return None
    return SendState(str(row["state"]), float(row["started_at"]), str(row["digest"]))


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
    event_id: str,
    digest: str,
    imported: bool = False,
) -> None:
    """A transaction Maileon took: its send is `sent` (no longer in flight), with `digest`."""
    with store.tx() as db:
        db.execute(
            "INSERT INTO deal_sends (company_id, event_id, state, started_at, digest)"
            " VALUES (?,?,?,?,?) ON CONFLICT (company_id, event_id) DO UPDATE SET"
            " state=excluded.state, started_at=excluded.started_at, digest=excluded.digest",
            (company_id, event_id, SENT, now(), digest),
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
