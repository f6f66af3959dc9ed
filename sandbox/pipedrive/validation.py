"""Input validation: custom field values, contacts, references to orgs/users/persons."""

from __future__ import annotations

from typing import Any

from sandbox.digits import ascii_int
from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.field_values import coerce_custom_value
from sandbox.pipedrive.helpers import fail

VISIBILITIES = (1, 3, 5, 7)
VISIBILITIES_V1 = tuple(str(v) for v in VISIBILITIES)


def ref_id(value: Any, name: str) -> int:
    """The id of another record: a number (or its ASCII digits in a string), no bool or float."""
    number = ascii_int(value)
    if number is None:
        raise fail(400, f"Validation failed: {name}: must be a number")
    return number


class Validation:
    """Checks and coerces what a caller sends."""

    def __init__(self, core: SimCore) -> None:
        self.core = core

    def apply_cf(
        self,
        company_id: int,
        current: dict[str, Any],
        body: Any,
        strict: bool,
        entity: str = "person",
    ) -> dict[str, Any]:
        """`current` with the `custom_fields` of a body applied, each value checked against the
        person's or deal's field of its key (unknown keys are ignored, as Pipedrive does)."""
        if body is None:
            return current
        if not isinstance(body, dict):
            raise fail(400, "Validation failed: custom_fields: must be an object")
        by_key = {f["key"]: f for f in self.core.custom_fields(company_id, entity)}
        out = dict(current)
        for key, value in body.items():
            f = by_key.get(key)
            if f is None:
                continue  # Pipedrive ignores unknown / deleted custom fields
            coerced = coerce_custom_value(f, value, strict)
            if coerced is None:
                out.pop(key, None)
            else:
                out[key] = coerced
        return out

    @staticmethod
    def contacts(value: Any, name: str, strict: bool) -> list[dict[str, Any]]:
        if value is None:
            return []
        if isinstance(value, str):
            if strict:
                raise fail(400, f"Validation failed: {name}: must be an array of objects")
            value = [{"value": v.strip()} for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise fail(400, f"Validation failed: {name}: must be an array of objects")
        out: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, str) and not strict:
                item = {"value": item}
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise fail(400, f"Validation failed: {name}: each item needs a string value")
            out.append(
                {
                    "value": item["value"],
                    "primary": bool(item.get("primary", False)),
                    "label": str(item.get("label") or "work"),
                }
            )
        if sum(1 for e in out if e["primary"]) > 1:
            raise fail(400, f"Validation failed: {name}: only one item can be primary")
        if out and not any(e["primary"] for e in out):
            out[0]["primary"] = True
        return out

    @staticmethod
    def check_visible_to(value: Any, strict: bool) -> int:
        """1, 3, 5 or 7 (owner, company, …); v1 takes them as strings too (its own form)."""
        if not strict and isinstance(value, str) and value.strip() in VISIBILITIES_V1:
            return int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or value not in VISIBILITIES:
            raise fail(400, "Validation failed: visible_to: must be one of 1, 3, 5, 7")
        return value

    def check_org(self, company_id: int, org_id: Any) -> int | None:
        if org_id in (None, "", 0):
            return None
        oid = ref_id(org_id, "org_id")
        org = self.core.organizations.get(oid)
        if org is None or org["company_id"] != company_id:
            raise fail(400, f"Organization {oid} not found")
        return oid

    def check_user(self, company_id: int, user_id: Any, name: str = "owner_id") -> int:
        uid = ref_id(user_id, name)
        user = self.core.users.get(uid)
        if user is None or user["company_id"] != company_id:
            raise fail(400, f"User {uid} not found")
        return uid

    def check_labels(self, company_id: int, value: Any) -> list[int]:
        known = {
            o["id"]
            for f in self.core.person_fields.values()
            if f["company_id"] == company_id and f["key"] == "label_ids"
            for o in f["options"] or []
        }
        if not isinstance(value, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and x in known for x in value
        ):
            raise fail(400, "Validation failed: label_ids: must be a list of existing label ids")
        return sorted(set(value))

    def check_person(self, company_id: int, person_id: Any) -> int | None:
        if person_id in (None, "", 0):
            return None
        pid = ref_id(person_id, "person_id")
        person = self.core.persons.get(pid)
        if person is None or person["company_id"] != company_id:
            raise fail(400, f"Person {pid} not found")
        return pid
