"""Persons: how a body applies to a person (for the shared `Records`), merge and bulk create."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.delivery import Delivery
from sandbox.pipedrive.helpers import fail, utcnow
from sandbox.pipedrive.records import Changes, Record, RecordKind, Records, apply_org_and_owner
from sandbox.pipedrive.representations import Representations
from sandbox.pipedrive.validation import Validation


class Persons:
    """Person changes: `records` creates, gets, updates and deletes; merge and bulk are here."""

    def __init__(
        self,
        check: Validation,
        core: SimCore,
        delivery: Delivery,
        changes: Changes,
        rep: Representations,
    ) -> None:
        self.check = check
        self.core = core
        self.delivery = delivery
        self.changes = changes
        kind = RecordKind(
            "person", lambda: core.persons, "Person not found", _new, self._apply, rep.person_v2
        )
        self.records = Records(kind, core, delivery, changes)
        self.rep = rep

    def _apply(self, p: Record, body: dict[str, Any], strict: bool, creating: bool) -> None:
        """Validate `body` and apply it to the person `p`, in Pipedrive's order of refusals."""
        cid = p["company_id"]
        _apply_names(p, body)
        self._apply_contacts(p, body, strict)
        apply_org_and_owner(self.check, p, body)
        if "visible_to" in body:
            p["visible_to"] = self.check.check_visible_to(body["visible_to"], strict)
        if "label_ids" in body:
            p["label_ids"] = self.check.check_labels(cid, body["label_ids"])
        p["custom_fields"] = self.check.apply_cf(
            cid, p["custom_fields"], body.get("custom_fields"), strict
        )
        _require_name(p, strict, creating)

    def _apply_contacts(self, p: Record, body: dict[str, Any], strict: bool) -> None:
        """Emails and phones; v1 also takes the singular `email`/`phone`, v2 refuses `email`."""
        if "emails" in body or "email" in body:
            raw = body["emails"] if "emails" in body else body.get("email")
            if "emails" not in body and strict:
                raise fail(400, "Validation failed: email: use emails")
            p["emails"] = self.check.contacts(raw, "emails", strict)
        if "phones" in body or "phone" in body:
            raw = body["phones"] if "phones" in body else body.get("phone")
            p["phones"] = self.check.contacts(raw, "phones", strict)

    def merge(
        self,
        person_id: int,
        into: int,
        source: str,
        user_id: int | None,
    ) -> dict[str, Any]:
        with self.core.lock:
            loser = self.records.get(person_id, None)
            survivor_old = self.records.get(into, loser["company_id"])
            if person_id == into:
                raise fail(400, "Cannot merge a person into itself")
            cid = loser["company_id"]
            actor = user_id or self.core.admin_of(cid)
            survivor = copy.deepcopy(survivor_old)
            for kind in ("emails", "phones"):
                known = {e["value"] for e in survivor[kind]}
                for item in loser[kind]:
                    if item["value"] not in known:
                        survivor[kind].append({**item, "primary": not survivor[kind]})
            if survivor["org_id"] is None:
                survivor["org_id"] = loser["org_id"]
            for key, value in loser["custom_fields"].items():
                survivor["custom_fields"].setdefault(key, copy.deepcopy(value))
            correlation = str(uuid.uuid4())
            del self.core.persons[person_id]
            self.delivery.emit(
                cid,
                "person",
                person_id,
                loser,
                None,
                source,
                actor,
                v2="delete",
                v1=None,
                merged_to_id=into,
                correlation_id=correlation,
            )
            self.changes.commit(
                "person",
                self.core.persons,
                survivor_old,
                survivor,
                source,
                actor,
                merged_from_id=person_id,
            )
            self.delivery.emit(
                cid,
                "person",
                person_id,
                loser,
                None,
                source,
                actor,
                v2=None,
                v1="deleted",
                correlation_id=correlation,
            )
            for deal in list(self.core.deals.values()):
                if deal["person_id"] == person_id:
                    moved = {**copy.deepcopy(deal), "person_id": into}
                    self.changes.commit("deal", self.core.deals, deal, moved, source, actor)
            return self.rep.person_v2(self.core.persons[into], with_company=True)

    def bulk(
        self,
        company_id: Any,
        count: int,
        email_domain: str,
        fire: bool,
    ) -> list[int]:
        with self.core.lock:
            cid = self.core._company(company_id)
            ids = []
            for _ in range(count):
                n = next(self.core._ids["bulk"])
                body = {
                    "name": f"Bulk Person {n}",
                    "emails": [{"value": f"bulk{n}@{email_domain}", "primary": True}],
                }
                ids.append(
                    self.records.create(cid, body, "app", None, strict=False, fire=fire)["id"]
                )
            return ids


def _apply_names(p: Record, body: dict[str, Any]) -> None:
    """`name` wins and is split into first and last name unless they come along; first or last
    name alone rebuild `name`."""
    _check_name_types(body)
    if body.get("name"):
        p["name"] = body["name"].strip()
        if "first_name" in body or "last_name" in body:
            p["first_name"] = body.get("first_name") or None
            p["last_name"] = body.get("last_name") or None
        else:
            first, _, last = p["name"].partition(" ")
            p["first_name"], p["last_name"] = first or None, last.strip() or None
    elif "first_name" in body or "last_name" in body:
        if "first_name" in body:
            p["first_name"] = body["first_name"] or None
        if "last_name" in body:
            p["last_name"] = body["last_name"] or None
        p["name"] = " ".join(x for x in (p["first_name"], p["last_name"]) if x)


def _check_name_types(body: dict[str, Any]) -> None:
    for name in ("name", "first_name", "last_name"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            raise fail(400, f"Validation failed: {name}: must be a string")


def _require_name(p: Record, strict: bool, creating: bool) -> None:
    """A person needs a name; v1 names a new person without one after its email."""
    if p["name"]:
        return
    if creating and not strict and p["emails"]:
        p["name"] = p["emails"][0]["value"].split("@")[0]
        p["first_name"] = p["name"]
        return
    raise fail(
        400,
        "Validation failed: name: Either name or both first_name and last_name must be provided",
    )


def _new(cid: int, actor: int, source: str, body: dict[str, Any]) -> Record:
    """A person's defaults before the body applies."""
    now = utcnow()
    return {
        "id": 0,
        "company_id": cid,
        "name": "",
        "first_name": None,
        "last_name": None,
        "org_id": None,
        "owner_id": actor,
        "add_time": now,
        "update_time": now,
        "emails": [],
        "phones": [],
        "visible_to": 3,
        "label_ids": [],
        "custom_fields": {},
    }
