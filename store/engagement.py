"""F15 engagement: events under their natural key, Pipedrive writes, mailing labels, switches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store.db import Store, now

EVENT_COLUMNS = (
    "key",
    "person_id",
    "kind",
    "mailing_id",
    "at",
    "email",
    "link",
    "bounce_type",
    "code",
    "source",
)
INSERT_EVENT = (
    "INSERT OR IGNORE INTO engagement_events (company_id, key, person_id, kind, mailing_id, at, "
    "email, link, bounce_type, code, source, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
SWITCHES = ("panel", "notes", "fields", "digest")


@dataclass
class EngagementSettings:
    company_id: int
    panel: bool = True
    notes: bool = True
    fields: bool = True
    digest: bool = False
    last_read_at: float | None = None
    last_read: str = ""
    warning: str = ""
    last_click_field: str = ""  # Pipedrive field keys, once created
    bounced_field: str = ""

    @property
    def on(self) -> bool:
        """Reports are read only while some part of engagement is on."""
        return self.panel or self.notes or self.fields or self.digest


def get_settings(store: Store, company_id: int) -> EngagementSettings:
    row = store.one("SELECT * FROM engagement_settings WHERE company_id=?", (company_id,))
    if row is None:
        return EngagementSettings(company_id)
    return EngagementSettings(
        company_id,
        panel=bool(row["panel"]),
        notes=bool(row["notes"]),
        fields=bool(row["fields"]),
        digest=bool(row["digest"]),
        last_read_at=row["last_read_at"],
        last_read=row["last_read"],
        warning=row["warning"],
        last_click_field=row["last_click_field"],
        bounced_field=row["bounced_field"],
    )


def _upsert(store: Store, company_id: int, values: dict[str, Any]) -> None:
    with store.tx() as db:
        db.execute(
            "INSERT INTO engagement_settings (company_id) VALUES (?) ON CONFLICT DO NOTHING",
            (company_id,),
        )
        sets = ", ".join(f"{name}=?" for name in values)
        db.execute(
            f"UPDATE engagement_settings SET {sets} WHERE company_id=?",  # noqa: S608 (fixed names)
            (*values.values(), company_id),
        )


def save_switches(store: Store, company_id: int, switches: dict[str, bool]) -> None:
    _upsert(store, company_id, {k: int(v) for k, v in switches.items() if k in SWITCHES})


def save_read(store: Store, company_id: int, summary: str, warning: str) -> None:
    _upsert(store, company_id, {"last_read_at": now(), "last_read": summary, "warning": warning})


def save_field_key(store: Store, company_id: int, which: str, key: str) -> None:
    assert which in ("last_click_field", "bounced_field")
    _upsert(store, company_id, {which: key})


def add_events(store: Store, company_id: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store events; those already stored under their key are left alone. Returns the new ones."""
    t = now()
    new = []
    with store.tx() as db:
        for row in rows:
            values = (company_id, *(row.get(c, "") for c in EVENT_COLUMNS), t)
            if db.execute(INSERT_EVENT, values).rowcount == 1:
                new.append(row)
    return new


WRITABLE = "('bounce', 'block', 'unsubscribe', 'click')"  # the kinds that lead to a write


def stored_since(store: Store, company_id: int, since: float) -> list[dict[str, Any]]:
    """The company's events stored since `since` that may lead to a Pipedrive write, oldest
    first."""
    return store.all(
        "SELECT * FROM engagement_events WHERE company_id=? AND stored_at>=? "  # noqa: S608
        f"AND kind IN {WRITABLE} ORDER BY at",
        (company_id, since),
    )


def has_event(store: Store, company_id: int, key: str) -> bool:
    sql = "SELECT 1 FROM engagement_events WHERE company_id=? AND key=?"
    return store.scalar(sql, (company_id, key)) is not None


def person_events(
    store: Store, company_id: int, person_id: int, limit: int = 500
) -> list[dict[str, Any]]:
    return store.all(
        "SELECT * FROM engagement_events WHERE company_id=? AND person_id=? "
        "ORDER BY at DESC LIMIT ?",
        (company_id, person_id, limit),
    )


def latest_stored(store: Store, company_id: int, person_id: int) -> float | None:
    value = store.scalar(
        "SELECT max(stored_at) FROM engagement_events WHERE company_id=? AND person_id=?",
        (company_id, person_id),
    )
    return float(value) if value is not None else None


def count_events(store: Store, company_id: int) -> int:
    return int(
        store.scalar("SELECT count(*) FROM engagement_events WHERE company_id=?", (company_id,))
    )


def prune(store: Store, company_id: int, cutoff: float) -> int:
    """Events and write records older than `cutoff` (RETENTION_DAYS)."""
    with store.tx() as db:
        gone = db.execute(
            "DELETE FROM engagement_events WHERE company_id=? AND stored_at < ?",
            (company_id, cutoff),
        ).rowcount
        db.execute(
            "DELETE FROM engagement_writes WHERE company_id=? AND at < ?", (company_id, cutoff)
        )
    return int(gone)


# --- mailings -------------------------------------------------------------------------------
def mailings(store: Store, company_id: int, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = store.all_in(
        "SELECT * FROM engagement_mailings WHERE company_id=? AND mailing_id IN ({marks})",
        company_id,
        ids,
    )
    return {r["mailing_id"]: r for r in rows}


def save_mailing(store: Store, company_id: int, mailing_id: str, name: str, kind: str) -> None:
    store.execute(
        "INSERT OR REPLACE INTO engagement_mailings (company_id, mailing_id, name, type) "
        "VALUES (?, ?, ?, ?)",
        (company_id, mailing_id, name, kind),
    )


# --- Pipedrive writes -------------------------------------------------------------------------
def written(store: Store, company_id: int, key: str) -> bool:
    return (
        store.scalar(
            "SELECT 1 FROM engagement_writes WHERE company_id=? AND key=?", (company_id, key)
        )
        is not None
    )


def writes_today(store: Store, company_id: int, day: str, person_id: int | None = None) -> int:
    params: tuple[Any, ...]
    if person_id is None:
        sql, params = (
            "SELECT count(*) FROM engagement_writes WHERE company_id=? AND day=?",
            (company_id, day),
        )
    else:
        sql, params = (
            "SELECT count(*) FROM engagement_writes WHERE company_id=? AND day=? AND person_id=?",
            (company_id, day, person_id),
        )
    return int(store.scalar(sql, params))


def record_write(
    store: Store, company_id: int, key: str, person_id: int, target: str, day: str
) -> None:
    store.execute(
        "INSERT OR IGNORE INTO engagement_writes (company_id, key, person_id, target, day, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (company_id, key, person_id, target, day, now()),
    )
