"""Deals (how a body applies to a deal, for the shared `Records`) and organizations."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.digits import ascii_int
from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.delivery import Delivery
from sandbox.pipedrive.helpers import fail, is_number, is_ymd, utcnow
from sandbox.pipedrive.records import Changes, Record, RecordKind, Records, apply_org_and_owner
from sandbox.pipedrive.representations import Representations
from sandbox.pipedrive.validation import Validation


class DealsAndOrgs:
    """Deal and organization changes: `records` creates, gets, updates and deletes deals."""

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
            "deal", lambda: core.deals, "Deal not found", self._new, self._apply, rep.deal_v2
        )
        self.records = Records(kind, core, delivery, changes)
        self.rep = rep

    # ------------------------------------------------------------------ deals

    def _apply(self, d: Record, body: dict[str, Any], strict: bool, creating: bool) -> None:
        self._apply_deal(d, body, strict)
        if creating:
            d["stage_change_time"] = None

    def _apply_deal(self, d: Record, body: dict[str, Any], strict: bool) -> None:
        """Validate `body` and apply it to the deal `d`, in Pipedrive's order of refusals."""
        if "title" in body:
            d["title"] = _title(body["title"])
        if "value" in body:
            d["value"] = _deal_value(body["value"], strict)
        if body.get("currency"):
            d["currency"] = str(body["currency"]).upper()
        if "person_id" in body:
            d["person_id"] = self.check.check_person(d["company_id"], body["person_id"])
        apply_org_and_owner(self.check, d, body)
        if body.get("stage_id") not in (None, ""):
            self._apply_stage(d, body["stage_id"])
        if "expected_close_date" in body:
            d["expected_close_date"] = _close_date(body["expected_close_date"])
        if "lost_reason" in body:
            d["lost_reason"] = body["lost_reason"] or None
        if "visible_to" in body:
            d["visible_to"] = self.check.check_visible_to(body["visible_to"], strict)
        if body.get("status") and body["status"] != d["status"]:
            _apply_status(d, body["status"])
        d["custom_fields"] = self.check.apply_cf(
            d["company_id"], d["custom_fields"], body.get("custom_fields"), strict, "deal"
        )

    def _apply_stage(self, d: Record, stage_id: Any) -> None:
        """Moves the deal to a stage of its company (and that stage's pipeline)."""
        number = ascii_int(stage_id)
        stage = None if number is None else self.core.stages.get(number)
        if stage is None or stage["company_id"] != d["company_id"]:
            raise fail(400, f"Stage {stage_id} not found")
        if stage["id"] != d["stage_id"]:
            d["stage_id"], d["pipeline_id"] = stage["id"], stage["pipeline_id"]
            d["stage_change_time"] = utcnow()

    def _new(self, cid: int, actor: int, source: str, body: dict[str, Any]) -> Record:
        """A deal's defaults before the body applies (the title is required)."""
        if not body.get("title"):
            raise fail(400, "Validation failed: title: required")
        first_stage = min(
            (s for s in self.core.stages.values() if s["company_id"] == cid),
            key=lambda s: s["id"],
        )
        now = utcnow()
        return {
            "id": 0,
            "company_id": cid,
            "title": "",
            "value": 0,
            "currency": "EUR",
            "owner_id": actor,
            "creator_user_id": actor,
            "person_id": None,
            "org_id": None,
            "stage_id": first_stage["id"],
            "pipeline_id": first_stage["pipeline_id"],
            "status": "open",
            "add_time": now,
            "update_time": now,
            "stage_change_time": None,
            "expected_close_date": None,
            "won_time": None,
            "lost_time": None,
            "close_time": None,
            "lost_reason": None,
            "visible_to": 3,
            "label_ids": [],
            "origin": "API" if source == "api" else "ManuallyCreated",
            "custom_fields": {},
        }

    # ------------------------------------------------------------------ organizations

    def create_org(self, company_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        with self.core.lock:
            cid = self.core._company(company_id)
            actor = self.core.admin_of(cid)
            if not body.get("name"):
                raise fail(400, "Validation failed: name: required")
            now = utcnow()
            o: dict[str, Any] = {
                "id": next(self.core._ids["organization"]),
                "company_id": cid,
                "name": str(body["name"]),
                "owner_id": actor,
                "add_time": now,
                "update_time": now,
                "address": None,
                "visible_to": 3,
                "label_ids": [],
                "custom_fields": {},
            }
            if body.get("address"):
                o["address"] = org_address(body["address"])
            self.core.organizations[o["id"]] = o
            self.delivery.emit(
                cid, "organization", o["id"], None, o, "app", actor, v2="create", v1="added"
            )
            return self.rep.org_v2(o, with_company=True)

    def update_org(self, org_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self.core.lock:
            old = self.core.organizations.get(org_id)
            if old is None:
                raise fail(404, "Organization not found")
            new = copy.deepcopy(old)
            if body.get("name"):
                new["name"] = str(body["name"])
            if "address" in body:
                new["address"] = org_address(body["address"]) if body["address"] else None
            if isinstance(body.get("custom_fields"), dict):
                new["custom_fields"].update(body["custom_fields"])
            self.changes.commit("organization", self.core.organizations, old, new, "app", None)
            return self.rep.org_v2(self.core.organizations[org_id], with_company=True)


def _title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise fail(400, "Validation failed: title: must be a non-empty string")
    return title.strip()


def _deal_value(value: Any, strict: bool) -> Any:
    """A number; v1 also takes one in a string ("" is 0, "12.0" is 12)."""
    if not strict and isinstance(value, str):
        try:
            value = float(value) if value.strip() else 0
        except ValueError:
            raise fail(400, "Validation failed: value: must be a number") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
    if not is_number(value):
        raise fail(400, "Validation failed: value: must be a number")
    return value


def _close_date(value: Any) -> Any:
    """A date YYYY-MM-DD, or None for an empty value."""
    ecd = value or None
    if ecd is not None and not is_ymd(ecd):
        raise fail(400, "Validation failed: expected_close_date: YYYY-MM-DD")
    return ecd


def _apply_status(d: Record, status: Any) -> None:
    """A new status sets its time (won, lost, closed) and clears the others."""
    if status not in ("open", "won", "lost"):
        raise fail(400, "Validation failed: status: must be one of open, won, lost")
    now = utcnow()
    d["status"] = status
    d["won_time"] = now if status == "won" else None
    d["lost_time"] = now if status == "lost" else None
    d["close_time"] = None if status == "open" else now
    if status != "lost":
        d["lost_reason"] = None


ADDRESS_PARTS = (
    "value",
    "country",
    "admin_area_level_1",
    "admin_area_level_2",
    "locality",
    "sublocality",
    "route",
    "street_number",
    "postal_code",
    "formatted_address",
)


def org_address(raw: Any) -> dict[str, Any]:
    """An organization's address as API v2 shows it (reference §3.5 example): a string is the
    `value`; an object keeps the documented parts (strings), nothing else."""
    if not isinstance(raw, dict):
        return {"value": str(raw)}
    return {k: str(raw[k]) for k in ADDRESS_PARTS if raw.get(k) is not None}
