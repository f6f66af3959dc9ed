"""Input validation: custom field values, contacts, references to orgs/users/persons."""

from __future__ import annotations

from datetime import date
from typing import Any

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.helpers import fail, is_number
from sandbox.pipedrive.model import ID_TYPES, ApiError


class Validation:
    """Checks and coerces what a caller sends."""

    def __init__(self, core: SimCore) -> None:
        self.core = core

    # ------------------------------------------------------------------ input validation

    def _coerce_cf(self, f: dict[str, Any], value: Any, strict: bool) -> Any:
        key, t = f["key"], f["field_type"]

        def bad(why: str) -> ApiError:
            return fail(400, f"Validation failed: custom_fields.{key}: {why}")

        if value is None or (not strict and value == ""):
            return None
        option_ids = {o["id"] for o in f["options"] or []}
        if t == "enum":
            if not strict and isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad("must be an option id (number)")
            if value not in option_ids:
                raise bad(f"option id {value} does not exist")
            return value
        if t == "set":
            if not strict and isinstance(value, str | int):
                value = [v for v in str(value).split(",") if v.strip()]
            if not isinstance(value, list):
                raise bad("must be an array of option ids")
            out: list[int] = []
            for item in value:
                if not strict and isinstance(item, str) and item.strip().isdigit():
                    item = int(item)
                if not isinstance(item, int) or isinstance(item, bool):
                    raise bad("must be an array of option ids (numbers)")
                if item not in option_ids:
                    raise bad(f"option id {item} does not exist")
                if item not in out:
                    out.append(item)
            return out or None
        if t == "double":
            if not strict and isinstance(value, str):
                try:
                    value = float(value) if "." in value else int(value)
                except ValueError:
                    raise bad("must be a number") from None
            if not is_number(value):
                raise bad("must be a number")
            return value
        if t == "monetary":
            if isinstance(value, dict):
                amount, currency = value.get("value"), value.get("currency") or "EUR"
            else:
                amount, currency = value, "EUR"
            if not strict and isinstance(amount, str):
                try:
                    amount = float(amount)
                except ValueError:
                    raise bad("value must be a number") from None
            if not is_number(amount):
                raise bad("value must be a number")
            return {"value": amount, "currency": str(currency)}
        if t == "date":
            if not isinstance(value, str):
                raise bad("must be a date YYYY-MM-DD")
            try:
                date.fromisoformat(value)
            except ValueError:
                raise bad("must be a date YYYY-MM-DD") from None
            return value
        if t == "address":
            if isinstance(value, str):
                return {"value": value}
            if isinstance(value, dict) and isinstance(value.get("value"), str):
                return {k: v for k, v in value.items() if k != "type"}
            raise bad("must be an address string or object with value")
        if t == "daterange":
            if isinstance(value, dict):
                return {"value": value.get("value"), "until": value.get("until")}
            raise bad("must be an object with value and until")
        if t in ID_TYPES:
            if not strict and isinstance(value, str) and value.isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise bad("must be an id (number)")
            return value
        if not isinstance(value, str):
            if strict:
                raise bad("must be a string")
            value = str(value)
        return value

    def apply_cf(
        self,
        company_id: int,
        current: dict[str, Any],
        body: Any,
        strict: bool,
    ) -> dict[str, Any]:
        if body is None:
            return current
        if not isinstance(body, dict):
            raise fail(400, "Validation failed: custom_fields: must be an object")
        by_key = {f["key"]: f for f in self.core.custom_fields(company_id)}
        out = dict(current)
        for key, value in body.items():
            f = by_key.get(key)
            if f is None:
                continue  # Pipedrive ignores unknown / deleted custom fields
            coerced = self._coerce_cf(f, value, strict)
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

    def check_org(self, company_id: int, org_id: Any) -> int | None:
        if org_id in (None, "", 0):
            return None
        try:
            oid = int(org_id)
        except (TypeError, ValueError):
            raise fail(400, "Validation failed: org_id: must be a number") from None
        org = self.core.organizations.get(oid)
        if org is None or org["company_id"] != company_id:
            raise fail(400, f"Organization {oid} not found")
        return oid

    def check_user(self, company_id: int, user_id: Any, name: str = "owner_id") -> int:
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            raise fail(400, f"Validation failed: {name}: must be a number") from None
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
        try:
            pid = int(person_id)
        except (TypeError, ValueError):
            raise fail(400, "Validation failed: person_id: must be a number") from None
        person = self.core.persons.get(pid)
        if person is None or person["company_id"] != company_id:
            raise fail(400, f"Person {pid} not found")
        return pid
