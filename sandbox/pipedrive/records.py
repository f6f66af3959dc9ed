"""Create, get, update and delete of one kind of record (persons, deals): one implementation.

What differs between kinds (their defaults, how a body applies, their v2 form) comes in a
`RecordKind`; every change is stored and announced through `Changes`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.delivery import Delivery
from sandbox.pipedrive.helpers import fail, utcnow
from sandbox.pipedrive.representations import Representations
from sandbox.pipedrive.validation import Validation

Record = dict[str, Any]


@dataclass(frozen=True)
class RecordKind:
    """What makes persons and deals differ."""

    entity: str  # "person", "deal": the event's entity and the id counter
    table: Callable[[], dict[int, Record]]  # looked up on each use: a reset may replace it
    not_found: str
    # (company id, acting user, source, body) -> a record with its defaults, id 0
    new: Callable[[int, int, str, dict[str, Any]], Record]
    # (record, body, strict, creating): validate the body and apply it to the record
    apply: Callable[[Record, dict[str, Any], bool, bool], None]
    render: Callable[..., Record]  # the v2 form (`with_company=True` for the Python API)


class Changes:
    """Stores a changed record and fires its `change` event, unless nothing changed."""

    def __init__(self, core: SimCore, delivery: Delivery, rep: Representations) -> None:
        self.core = core
        self.delivery = delivery
        self.rep = rep

    def commit(
        self,
        entity: str,
        table: dict[int, Record],
        old: Record,
        new: Record,
        source: str,
        user_id: int | None,
        merged_from_id: int | None = None,
    ) -> bool:
        """Store `new` if it differs from `old` (bumping update_time) and fire `change`."""
        before, after = self.rep.api_form(entity, old), self.rep.api_form(entity, new)
        before.pop("update_time")
        after.pop("update_time")
        if before == after and merged_from_id is None:
            return False
        new["update_time"] = utcnow()
        table[new["id"]] = new
        actor = user_id or self.core.admin_of(new["company_id"])
        self.delivery.emit(
            new["company_id"],
            entity,
            new["id"],
            old,
            new,
            source,
            actor,
            v2="change",
            v1="updated" if merged_from_id is None else "merged",
            merged_from_id=merged_from_id,
        )
        return True


class Records:
    """One kind of record: create, get, update, delete; every change emits its event."""

    def __init__(
        self, kind: RecordKind, core: SimCore, delivery: Delivery, changes: Changes
    ) -> None:
        self.kind = kind
        self.core = core
        self.delivery = delivery
        self.changes = changes

    def create(
        self,
        company_id: Any,
        body: dict[str, Any],
        source: str,
        user_id: int | None,
        *,
        strict: bool,
        fire: bool = True,
    ) -> Record:
        kind = self.kind
        with self.core.lock:
            cid = self.core._company(company_id)
            actor = user_id or self.core.admin_of(cid)
            rec = kind.new(cid, actor, source, body)
            kind.apply(rec, body, strict, True)
            rec["id"] = next(self.core._ids[kind.entity])
            kind.table()[rec["id"]] = rec
            if fire:
                self.delivery.emit(
                    cid, kind.entity, rec["id"], None, rec, source, actor, v2="create", v1="added"
                )
            return kind.render(rec, with_company=True)

    def get(self, record_id: int, company_id: int | None) -> Record:
        """The stored record (not a copy); 404 when missing or of another company."""
        rec = self.kind.table().get(record_id)
        if rec is None or (company_id is not None and rec["company_id"] != company_id):
            raise fail(404, self.kind.not_found)
        return rec

    def update(
        self,
        record_id: int,
        body: dict[str, Any],
        source: str,
        user_id: int | None,
        *,
        company_id: int | None = None,
        strict: bool,
    ) -> Record:
        kind = self.kind
        with self.core.lock:
            old = self.get(record_id, company_id)
            new = copy.deepcopy(old)
            kind.apply(new, body, strict, False)
            table = kind.table()
            self.changes.commit(kind.entity, table, old, new, source, user_id)
            return kind.render(table[record_id], with_company=True)

    def delete(
        self,
        record_id: int,
        source: str,
        user_id: int | None,
        *,
        company_id: int | None = None,
    ) -> None:
        kind = self.kind
        with self.core.lock:
            rec = self.get(record_id, company_id)
            del kind.table()[record_id]
            actor = user_id or self.core.admin_of(rec["company_id"])
            self.delivery.emit(
                rec["company_id"],
                kind.entity,
                record_id,
                rec,
                None,
                source,
                actor,
                v2="delete",
                v1="deleted",
            )


def apply_org_and_owner(check: Validation, rec: Record, body: dict[str, Any]) -> None:
    """A person's or deal's organization (None clears it) and owner (None keeps it)."""
    cid = rec["company_id"]
    if "org_id" in body:
        rec["org_id"] = check.check_org(cid, body["org_id"])
    if body.get("owner_id") is not None:
        rec["owner_id"] = check.check_user(cid, body["owner_id"])
