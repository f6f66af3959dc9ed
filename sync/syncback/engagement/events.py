"""Report rows and webhook calls → engagement events with a natural key, tied to a person.

The package (F15 engagement back: Maileon's per-person mailing events into the panel and
Pipedrive):
* `events`: a report row or webhook call → an event under its natural key, tied to a person.
* `reader`: the periodic read of Maileon's reports over a persistent per-company cursor.
* `bounce`: the `bounce` webhook's job (store first, then enrich from `/reports/bounces`).
* `writes`: notes and person fields in Pipedrive, budgeted per person and company per day.
* `view`: what the panel shows, from what the app holds.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from store import people
from store.db import Store
from sync.webhook.parse import normalize_time, parse_id

# report → event kind
KIND = {
    "recipients": "sent",
    "opens": "open",
    "clicks": "click",
    "bounces": "bounce",
    "blocks": "block",
    "unsubscriptions": "unsubscribe",
}


def epoch(value: str) -> float | None:
    """Maileon's `yyyy-mm-dd hh:mm:ss` (UTC assumed: the timezone is UNCONFIRMED), ISO or ms."""
    text = normalize_time(value.strip().removesuffix(".0")) if value else ""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def person_of(store: Store, company_id: int, external_id: str, email: str) -> int | None:
    """The synced, not deleted person a Maileon contact stands for: by external id (F7), else
    by address when exactly one person has it."""
    pid = parse_id(external_id)
    if pid is not None:
        return pid if people.is_active(store, company_id, pid) else None
    if email:
        found = [s for s in people.by_email(store, company_id, email) if not s.deleted]
        if len(found) == 1:
            return found[0].person_id
    return None


def natural_key(kind: str, person_id: int, row: dict[str, Any], at: float) -> str:
    """One key per real event: a re-read, a cursor overlap or the webhook and the report of
    the same bounce give the same key. Bounces and unsubscriptions are keyed by Maileon's
    message id when there is one (the webhook and report timestamps may differ in form)."""
    msg = row.get("msg_id") or ""
    if kind in ("bounce", "unsubscribe") and msg:
        raw = f"{kind}|{person_id}|msg:{msg}"
    else:
        link = row.get("link_id") or row.get("link_url") or ""
        raw = f"{kind}|{person_id}|{row.get('mailing_id') or ''}|{int(at)}|{msg}|{link}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def event_of(kind: str, person_id: int, row: dict[str, Any], at: float) -> dict[str, Any]:
    bounce = row.get("type") or ""
    return {
        "key": natural_key(kind, person_id, row, at),
        "person_id": person_id,
        "kind": kind,
        "mailing_id": (row.get("mailing_id") or "")[:40],
        "at": at,
        "email": (row.get("email") or "")[:254],
        "link": (row.get("link_url") or row.get("link_type") or "")[:500],
        "bounce_type": {"permanent": "hard", "transient": "soft"}.get(bounce, bounce[:20]),
        "code": (row.get("status_code") or row.get("reason") or "")[:40],
        "source": (row.get("source") or row.get("new_status") or "")[:40],
    }
