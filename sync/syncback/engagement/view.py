"""What the panel shows of a person's engagement (F15), from what the app holds."""

from __future__ import annotations

from typing import Any

from clients.digits import ascii_int
from store import engagement as store
from store.db import Store

SHOWN = 10  # mailings in the panel


def person_view(store_: Store, company_id: int, person_id: int) -> dict[str, Any]:
    """The person's recent mailings, newest first, and whether Maileon blocked the address."""
    events = store.person_events(store_, company_id, person_id)
    labels = store.mailings(
        store_, company_id, sorted({e["mailing_id"] for e in events if e["mailing_id"]})
    )
    mailings: dict[str, dict[str, Any]] = {}
    blocked = False
    for e in sorted(events, key=lambda e: e["at"]):
        if e["kind"] == "block":
            blocked = e["source"] == "blocked"
            continue
        mid = e["mailing_id"]
        if not mid:
            continue
        label = labels.get(mid)
        m = mailings.setdefault(
            mid,
            {
                "id": mid,
                "name": label["name"] if label else f"Mailing {mid}",
                "transactional": bool(label and label["type"] == "trigger"),
                "sent": None,
                "opened": False,
                "clicks": [],
                "bounce": None,
                "unsubscribed": None,
                "last": 0.0,
            },
        )
        m["last"] = max(m["last"], e["at"])
        if e["kind"] == "sent":
            m["sent"] = e["at"]
        elif e["kind"] == "open":
            m["opened"] = True
        elif e["kind"] == "click":
            if e["link"] and e["link"] not in m["clicks"]:
                m["clicks"].append(e["link"])
            m["opened"] = True
        elif e["kind"] == "bounce":
            m["bounce"] = {"type": e["bounce_type"] or "unknown", "code": e["code"]}
        elif e["kind"] == "unsubscribe":
            m["unsubscribed"] = e["source"] or "unknown"
    # newest first; within one second (the reports' precision) the later mailing id first
    recent = sorted(
        mailings.values(),
        key=lambda m: (m["sent"] or m["last"], ascii_int(m["id"]) or 0),
        reverse=True,
    )
    return {"mailings": recent[:SHOWN], "blocked": blocked}
