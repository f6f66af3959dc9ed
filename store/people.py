"""What the app knows of each Pipedrive person: the Maileon address it maps to, the last
applied update_time, the Newsletter value seen and written, and the Maileon consent state."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from store.db import Store, now


@dataclass
class PersonState:
    company_id: int
    person_id: int
    email: str = ""
    last_update_time: str = ""
    newsletter: str = ""
    maileon_state: str = ""  # '' (never synced) | none | found | pending | subscribed
    #                        | unsubscribed ("found": existed in Maileon, its permission its own)
    written_newsletter: str = ""
    written_at: float = 0.0
    synced_at: float = 0.0
    last_error: str = ""
    deleted: bool = False
    data_hash: str = ""
    app_created: int | None = None  # 1 the app created the contact, 0 found it, None unknown
    # the row as it was read (None: no row then); what `save_all(merge=True)` compares with
    read_as: tuple[Any, ...] | None = field(
        default=None, compare=False, repr=False, metadata={"column": False}
    )


COLUMNS = [f.name for f in fields(PersonState) if f.metadata.get("column", True)]
MAX_SEEN = ("last_update_time", "synced_at")  # a merge keeps the later of both


def _from_row(row: dict[str, Any]) -> PersonState:
    row["deleted"] = bool(row["deleted"])
    state = PersonState(**row)
    state.read_as = _values(state)
    return state


def _values(state: PersonState) -> tuple[Any, ...]:
    return tuple(getattr(state, c) for c in COLUMNS)


def get(store: Store, company_id: int, person_id: int) -> PersonState:
    row = store.one(
        "SELECT * FROM persons WHERE company_id=? AND person_id=?", (company_id, person_id)
    )
    return PersonState(company_id, person_id) if row is None else _from_row(row)


def get_many(store: Store, company_id: int, ids: list[int]) -> dict[int, PersonState]:
    """The known states of these persons, by person id (unknown ones are absent)."""
    rows = store.all_in(
        "SELECT * FROM persons WHERE company_id=? AND person_id IN ({marks})", company_id, ids
    )
    return {r["person_id"]: _from_row(r) for r in rows}


def is_active(store: Store, company_id: int, person_id: int) -> bool:
    """Whether the app synced this person and it is not deleted."""
    return (
        store.scalar(
            "SELECT 1 FROM persons WHERE company_id=? AND person_id=? AND deleted=0",
            (company_id, person_id),
        )
        is not None
    )


def save(store: Store, state: PersonState) -> None:
    with store.tx() as db:
        save_all(db, [state])


def save_all(db: Any, states: list[PersonState], merge: bool = False) -> None:
    """Write the states; call inside a transaction. A person deleted or merged away in
    Pipedrive keeps no personal data: its tombstone holds the ids, times and consent state
    only (issue #13). Raw SQL: one executemany for a whole import batch.

    `merge`: for runs that read states, wait for Maileon without the persons' locks, then
    write (an import or rule-run batch). Only what the run changed is written: a column that
    someone else changed since the run read it (a webhook, a Maileon unsubscribe) keeps that
    newer value, so it is not lost (compare-and-set per column, issue 22)."""
    if not states:
        return
    if merge:
        states = _merged(db, states)
    for state in states:
        if state.deleted:
            forget_personal_data(state)
    db.conn.executemany(
        f"INSERT OR REPLACE INTO persons ({', '.join(COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(COLUMNS))})",
        [[getattr(s, c) for c in COLUMNS] for s in states],
    )


def _merged(db: Any, states: list[PersonState]) -> list[PersonState]:
    company_id = states[0].company_id
    ids = [s.person_id for s in states]
    current: dict[int, tuple[Any, ...]] = {}
    for at in range(0, len(ids), 500):
        chunk = ids[at : at + 500]
        rows = db.execute(
            f"SELECT * FROM persons WHERE company_id=? AND person_id IN "  # noqa: S608
            f"({','.join('?' * len(chunk))})",
            (company_id, *chunk),
        ).fetchall()
        for row in rows:
            current[row["person_id"]] = _values(_from_row(dict(row)))
    out = []
    for mine in states:
        now_values = current.get(mine.person_id)
        if now_values is None:
            out.append(mine)
            continue
        before = mine.read_as or _values(PersonState(mine.company_id, mine.person_id))
        merged = {}
        for column, was, now_value in zip(COLUMNS, before, now_values, strict=True):
            ours = getattr(mine, column)
            if column in MAX_SEEN:
                merged[column] = max(ours, now_value)
            else:
                merged[column] = now_value if now_value != was else ours
        out.append(PersonState(**merged))
    return out


def forget_personal_data(state: PersonState) -> None:
    """The address, the fingerprint of name and address, and an error that may quote them."""
    state.email = ""
    state.data_hash = ""
    state.last_error = ""


def note_error(store: Store, company_id: int, person_id: int, message: str) -> None:
    state = get(store, company_id, person_id)
    state.last_error = message
    save(store, state)


def others_with_email(store: Store, company_id: int, person_id: int, email: str) -> bool:
    return (
        store.scalar(
            "SELECT 1 FROM persons WHERE company_id=? AND person_id<>? AND lower(email)=lower(?) "
            "AND deleted=0",
            (company_id, person_id, email),
        )
        is not None
    )


def by_email(store: Store, company_id: int, email: str) -> list[PersonState]:
    rows = store.all(
        "SELECT * FROM persons WHERE company_id=? AND lower(email)=lower(?) AND deleted=0",
        (company_id, email),
    )
    return [_from_row(row) for row in rows]


def touch_synced(state: PersonState) -> None:
    state.synced_at = now()
    state.last_error = ""


def pending_since(
    store: Store, company_id: int, before: float, limit: int = 5
) -> tuple[int, list[str]]:
    """Persons shown "Pending confirmation" since before `before`: how many, and the first
    few addresses (a DOI mail that never arrives, e.g. a wrong DOI mailing ID, shows here)."""
    where = (
        "company_id=? AND maileon_state='pending' AND deleted=0 "
        "AND written_newsletter='Pending confirmation' AND written_at<?"
    )
    count = store.scalar(
        f"SELECT count(*) FROM persons WHERE {where}",  # noqa: S608
        (company_id, before),
    )
    rows = store.all(
        f"SELECT email FROM persons WHERE {where} "  # noqa: S608
        "ORDER BY written_at LIMIT ?",
        (company_id, before, limit),
    )
    return int(count or 0), [r["email"] for r in rows]
