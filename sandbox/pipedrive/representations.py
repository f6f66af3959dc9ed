"""How records look in API v1, API v2 and webhook payloads."""

from __future__ import annotations

from typing import Any

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.helpers import plain_copy, rfc3339, v1_time
from sandbox.pipedrive.model import ID_TYPES


class Representations:
    """Renders persons, organizations, deals and custom field values."""

    def __init__(self, core: SimCore) -> None:
        self.core = core

    # ------------------------------------------------------------------ representations

    def _cf_plain(
        self, company_id: int, values: dict[str, Any], entity: str = "person"
    ) -> dict[str, Any]:
        return {
            f["key"]: plain_copy(values.get(f["key"]))
            for f in self.core.custom_fields(company_id, entity)
        }

    def _cf_typed(
        self, company_id: int, values: dict[str, Any], entity: str = "person"
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.core.custom_fields(company_id, entity):
            value = values.get(f["key"])
            t = f["field_type"]
            if value is None:
                out[f["key"]] = None
            elif t == "enum":
                out[f["key"]] = {"id": value, "type": "enum"}
            elif t == "set":
                out[f["key"]] = {"values": [{"id": v} for v in value], "type": "set"}
            elif t == "monetary":
                out[f["key"]] = {
                    "currency": value.get("currency"),
                    "type": "monetary",
                    "value": value.get("value"),
                }
            elif t == "address":
                out[f["key"]] = {
                    "type": "address",
                    "formatted_address": value.get("value"),
                    **value,
                }
            elif t == "daterange":
                out[f["key"]] = {
                    "from": value.get("value"),
                    "until": value.get("until"),
                    "type": "daterange",
                }
            elif t in ID_TYPES:
                out[f["key"]] = {"id": value, "type": t}
            else:
                out[f["key"]] = {"type": t, "value": value}
        return out

    def _cf_v1(
        self, company_id: int, values: dict[str, Any], entity: str = "person"
    ) -> dict[str, Any]:
        """v1: each custom field at the root under its hash key (monetary, address and
        daterange parts under `<key>_<part>`)."""
        out: dict[str, Any] = {}
        for f in self.core.custom_fields(company_id, entity):
            key, t, value = f["key"], f["field_type"], values.get(f["key"])
            if t == "enum":
                out[key] = None if value is None else str(value)
            elif t == "set":
                out[key] = None if not value else ",".join(str(v) for v in value)
            elif t == "monetary":
                out[key] = None if value is None else value.get("value")
                out[f"{key}_currency"] = None if value is None else value.get("currency")
            elif t == "address":
                out[key] = None if value is None else value.get("value")
                for sub, subval in (value or {}).items():
                    if sub != "value":
                        out[f"{key}_{sub}"] = subval
                if value is not None:
                    out[f"{key}_formatted_address"] = value.get("value")
            elif t == "daterange":
                out[key] = None if value is None else value.get("value")
                out[f"{key}_until"] = None if value is None else value.get("until")
            else:
                out[key] = value
        return out

    def person_v2(self, p: dict[str, Any], with_company: bool = False) -> dict[str, Any]:
        out = {
            "id": p["id"],
            "name": p["name"],
            "first_name": p["first_name"],
            "last_name": p["last_name"],
            "owner_id": p["owner_id"],
            "org_id": p["org_id"],
            "add_time": rfc3339(p["add_time"]),
            "update_time": rfc3339(p["update_time"]),
            "emails": plain_copy(p["emails"]),
            "phones": plain_copy(p["phones"]),
            "is_deleted": False,
            "visible_to": p["visible_to"],
            "label_ids": list(p["label_ids"]),
            "picture_id": None,
            "custom_fields": self._cf_plain(p["company_id"], p["custom_fields"]),
        }
        if with_company:
            out["company_id"] = p["company_id"]
        return out

    def _person_hook2(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "add_time": rfc3339(p["add_time"]),
            "custom_fields": self._cf_typed(p["company_id"], p["custom_fields"]),
            "emails": plain_copy(p["emails"]),
            "first_name": p["first_name"],
            "id": p["id"],
            "label": p["label_ids"][0] if p["label_ids"] else None,  # the first only
            "last_name": p["last_name"],
            "name": p["name"],
            "org_id": p["org_id"],
            "owner_id": p["owner_id"],
            "phones": plain_copy(p["phones"]),
            "update_time": rfc3339(p["update_time"]),
            "visible_to": str(p["visible_to"]),
        }

    def _person_v1(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.core.organizations.get(p["org_id"]) if p["org_id"] else None
        owner = self.core.users.get(p["owner_id"])
        primary = next((e["value"] for e in p["emails"] if e.get("primary")), None)
        out = {
            "id": p["id"],
            "company_id": p["company_id"],
            "owner_id": p["owner_id"],
            "org_id": p["org_id"],
            "name": p["name"],
            "first_name": p["first_name"],
            "last_name": p["last_name"],
            "phone": plain_copy(p["phones"]) or [{"value": "", "primary": True}],
            "email": plain_copy(p["emails"]) or [{"value": "", "primary": True}],
            "primary_email": primary,
            "visible_to": str(p["visible_to"]),
            "add_time": v1_time(p["add_time"]),
            "update_time": v1_time(p["update_time"]),
            "active_flag": True,
            "label": p["label_ids"][0] if p["label_ids"] else None,
            "label_ids": list(p["label_ids"]),  # as in the OAS v1 person example
            "org_name": org["name"] if org else None,
            "owner_name": owner["name"] if owner else None,
        }
        out.update(self._cf_v1(p["company_id"], p["custom_fields"]))
        return out

    def org_v2(self, o: dict[str, Any], with_company: bool = False) -> dict[str, Any]:
        out = {
            "id": o["id"],
            "name": o["name"],
            "owner_id": o["owner_id"],
            "add_time": rfc3339(o["add_time"]),
            "update_time": rfc3339(o["update_time"]),
            "address": plain_copy(o["address"]),
            "is_deleted": False,
            "visible_to": o["visible_to"],
            "label_ids": list(o["label_ids"]),
            "custom_fields": plain_copy(o["custom_fields"]),
        }
        if with_company:
            out["company_id"] = o["company_id"]
        return out

    def _org_hook2(self, o: dict[str, Any]) -> dict[str, Any]:
        return {
            "add_time": rfc3339(o["add_time"]),
            "address": plain_copy(o["address"]),
            "country_code": None,
            "custom_fields": plain_copy(o["custom_fields"]),
            "id": o["id"],
            "label": None,
            "label_ids": list(o["label_ids"]),
            "name": o["name"],
            "owner_id": o["owner_id"],
            "picture_id": None,
            "update_time": rfc3339(o["update_time"]),
            "visible_to": str(o["visible_to"]),
        }

    def _org_v1(self, o: dict[str, Any]) -> dict[str, Any]:
        address = o["address"] or {}
        return {
            "id": o["id"],
            "company_id": o["company_id"],
            "owner_id": o["owner_id"],
            "name": o["name"],
            "address": address.get("value"),
            "visible_to": str(o["visible_to"]),
            "add_time": v1_time(o["add_time"]),
            "update_time": v1_time(o["update_time"]),
            "active_flag": True,
            "label": None,
        }

    def deal_v2(self, d: dict[str, Any], with_company: bool = False) -> dict[str, Any]:
        out = {
            "id": d["id"],
            "title": d["title"],
            "creator_user_id": d["creator_user_id"],
            "owner_id": d["owner_id"],
            "value": d["value"],
            "person_id": d["person_id"],
            "org_id": d["org_id"],
            "stage_id": d["stage_id"],
            "pipeline_id": d["pipeline_id"],
            "currency": d["currency"],
            "archive_time": None,
            "add_time": rfc3339(d["add_time"]),
            "update_time": rfc3339(d["update_time"]),
            "stage_change_time": rfc3339(d["stage_change_time"]),
            "status": d["status"],
            "is_archived": False,
            "is_deleted": False,
            "probability": None,
            "lost_reason": d["lost_reason"],
            "visible_to": d["visible_to"],
            "close_time": rfc3339(d["close_time"]),
            "won_time": rfc3339(d["won_time"]),
            "lost_time": rfc3339(d["lost_time"]),
            "expected_close_date": d["expected_close_date"],
            "label_ids": list(d["label_ids"]),
            "origin": d["origin"],
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "custom_fields": self._cf_plain(d["company_id"], d["custom_fields"], "deal"),
        }
        if with_company:
            out["company_id"] = d["company_id"]
        return out

    def _deal_hook2(self, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "add_time": rfc3339(d["add_time"]),
            "channel": None,
            "channel_id": None,
            "close_time": rfc3339(d["close_time"]),
            "creator_user_id": d["creator_user_id"],
            "currency": d["currency"],
            "custom_fields": self._cf_typed(d["company_id"], d["custom_fields"], "deal"),
            "expected_close_date": d["expected_close_date"],
            "first_won_time": rfc3339(d["won_time"]),
            "id": d["id"],
            "label_ids": list(d["label_ids"]),
            "lost_reason": d["lost_reason"],
            "lost_time": rfc3339(d["lost_time"]),
            "org_id": d["org_id"],
            "origin": d["origin"],
            "origin_id": None,
            "owner_id": d["owner_id"],
            "person_id": d["person_id"],
            "pipeline_id": d["pipeline_id"],
            "probability": None,
            "stage_change_time": rfc3339(d["stage_change_time"]),
            "stage_id": d["stage_id"],
            "status": d["status"],
            "title": d["title"],
            "update_time": rfc3339(d["update_time"]),
            "value": d["value"],
            "visible_to": str(d["visible_to"]),
            "won_time": rfc3339(d["won_time"]),
        }

    def _deal_v1(self, d: dict[str, Any]) -> dict[str, Any]:
        person = self.core.persons.get(d["person_id"]) if d["person_id"] else None
        org = self.core.organizations.get(d["org_id"]) if d["org_id"] else None
        out = {
            "id": d["id"],
            "company_id": d["company_id"],
            "creator_user_id": d["creator_user_id"],
            "user_id": d["owner_id"],
            "person_id": d["person_id"],
            "org_id": d["org_id"],
            "stage_id": d["stage_id"],
            "pipeline_id": d["pipeline_id"],
            "title": d["title"],
            "value": d["value"],
            "currency": d["currency"],
            "status": d["status"],
            "add_time": v1_time(d["add_time"]),
            "update_time": v1_time(d["update_time"]),
            "stage_change_time": v1_time(d["stage_change_time"]),
            "won_time": v1_time(d["won_time"]),
            "lost_time": v1_time(d["lost_time"]),
            "close_time": v1_time(d["close_time"]),
            "lost_reason": d["lost_reason"],
            "expected_close_date": d["expected_close_date"],
            "visible_to": str(d["visible_to"]),
            "active": d["status"] == "open",
            "deleted": False,
            "person_name": person["name"] if person else None,
            "org_name": org["name"] if org else None,
        }
        out.update(self._cf_v1(d["company_id"], d["custom_fields"], "deal"))
        return out

    def _render(self, entity: str, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(v2 webhook form, v1 webhook form) of a record."""
        if entity == "person":
            return self._person_hook2(record), self._person_v1(record)
        if entity == "deal":
            return self._deal_hook2(record), self._deal_v1(record)
        return self._org_hook2(record), self._org_v1(record)

    def api_form(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        if entity == "person":
            return self.person_v2(record)
        if entity == "deal":
            return self.deal_v2(record)
        return self.org_v2(record)
