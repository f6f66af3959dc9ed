"""The Python API tests and the demo use to change the simulated Pipedrive directly."""

from __future__ import annotations

import copy
import time
from typing import Any

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.deals import DealsAndOrgs
from sandbox.pipedrive.helpers import rfc3339, v1_time
from sandbox.pipedrive.model import BAN_SECONDS
from sandbox.pipedrive.oauth import OAuth
from sandbox.pipedrive.persons import Persons
from sandbox.pipedrive.representations import Representations
from sandbox.pipedrive.webhooks import WebhookAdmin


class PythonApi:
    """Direct changes and state, as a person clicking in Pipedrive would make them."""

    def __init__(
        self,
        core: SimCore,
        hooks: WebhookAdmin,
        oauth: OAuth,
        orgs_deals: DealsAndOrgs,
        people: Persons,
        rep: Representations,
    ) -> None:
        self.core = core
        self.hooks = hooks
        self.oauth = oauth
        self.orgs_deals = orgs_deals
        self.people = people
        self.rep = rep

    # ------------------------------------------------------------------ public python API

    def create_person(self, company_id: int, **fields: Any) -> dict[str, Any]:
        return self.people.records.create(
            company_id, fields, "app", fields.pop("user_id", None), strict=False
        )

    def update_person(self, person_id: int, **fields: Any) -> dict[str, Any]:
        return self.people.records.update(
            person_id, fields, "app", fields.pop("user_id", None), strict=False
        )

    def delete_person(self, person_id: int) -> None:
        self.people.records.delete(person_id, "app", None)

    def merge_persons(self, person_id: int, into: int) -> dict[str, Any]:
        return self.people.merge(person_id, into, "app", None)

    def bulk_create_persons(
        self,
        company_id: int,
        count: int,
        email_domain: str = "bulk.test",
        fire_webhooks: bool = False,
    ) -> list[int]:
        return self.people.bulk(company_id, count, email_domain, fire_webhooks)

    def create_deal(self, company_id: int, **fields: Any) -> dict[str, Any]:
        return self.orgs_deals.records.create(
            company_id, fields, "app", fields.pop("user_id", None), strict=False
        )

    def update_deal(self, deal_id: int, **fields: Any) -> dict[str, Any]:
        return self.orgs_deals.records.update(
            deal_id, fields, "app", fields.pop("user_id", None), strict=False
        )

    def delete_deal(self, deal_id: int) -> None:
        self.orgs_deals.records.delete(deal_id, "app", None)

    def update_organization(self, org_id: int, **fields: Any) -> dict[str, Any]:
        return self.orgs_deals.update_org(org_id, fields)

    def field_key(self, company_id: int, name: str, entity: str = "person") -> str | None:
        """The 40-hex key of the person (or deal) field called `name` in that company."""
        with self.core.lock:
            f = self.core.field_by_name(company_id, name, entity)
            return str(f["key"]) if f else None

    def option_id(
        self, company_id: int, field_name: str, label: str, entity: str = "person"
    ) -> int | None:
        with self.core.lock:
            f = self.core.field_by_name(company_id, field_name, entity)
            for o in (f or {}).get("options") or []:
                if o["label"] == label:
                    return int(o["id"])
            return None

    def expire_tokens(self) -> None:
        with self.core.lock:
            now = time.time()
            for tok in self.core.access_tokens.values():
                tok.expires_at = min(tok.expires_at, now)

    def revoke_user(self, user_id: int) -> None:
        with self.core.lock:
            for install in self.core.installations.values():
                if install.user_id == user_id:
                    self.oauth.revoke_install(install)

    def set_token_lifetime(self, seconds: float | None) -> None:
        with self.core.lock:
            self.core.token_lifetime = seconds
            if seconds is not None:
                for tok in self.core.access_tokens.values():
                    tok.expires_at = min(tok.expires_at, tok.issued_at + seconds)

    def delete_webhook(self, webhook_id: int) -> bool:
        with self.core.lock:
            return self.core.webhooks.pop(webhook_id, None) is not None

    def ban_webhook(self, webhook_id: int) -> bool:
        with self.core.lock:
            hook = self.core.webhooks.get(webhook_id)
            if hook is None:
                return False
            hook["banned_until"] = time.time() + BAN_SECONDS * self.core.time_scale
            hook["fail_count"] = 0
            return True

    def state(self, company_id: int | None = None) -> dict[str, Any]:
        with self.core.lock:

            def mine(rec: dict[str, Any]) -> bool:
                return company_id is None or rec["company_id"] == company_id

            return {
                "persons": [
                    self.rep.person_v2(p, True) for p in self.core.persons.values() if mine(p)
                ],
                "organizations": [
                    self.rep.org_v2(o, True) for o in self.core.organizations.values() if mine(o)
                ],
                "deals": [self.rep.deal_v2(d, True) for d in self.core.deals.values() if mine(d)],
                "webhooks": [
                    self.hooks.webhook_out(w, internal=True)
                    for w in self.core.webhooks.values()
                    if mine(w)
                ],
                "deliveries": [d for d in self.core.deliveries if mine(d)],
                "person_fields": [
                    self.field_v1(f) | {"company_id": f["company_id"]}
                    for f in self.core.person_fields.values()
                    if mine(f)
                ],
                "deal_fields": [
                    self.field_v1(f) | {"company_id": f["company_id"]}
                    for f in self.core.deal_fields.values()
                    if mine(f)
                ],
                "users": [dict(u) for u in self.core.users.values() if mine(u)],
                "companies": list(self.core.companies.values()),
                "installations": [
                    {"company_id": i.company_id, "user_id": i.user_id, "active": i.active}
                    for i in self.core.installations.values()
                    if mine(i.__dict__)
                ],
                "refresh_calls": self.core.refresh_calls,
                "token_calls": self.core.token_calls,
                "requests": list(self.core.requests),
            }

    def field_v1(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f["id"],
            "key": f["key"],
            "name": f["name"],
            "order_nr": f["order_nr"],
            "field_type": f["field_type"],
            "add_time": v1_time(f["add_time"]),
            "update_time": v1_time(f["update_time"]),
            "last_updated_by_user_id": f["created_by_user_id"],
            "created_by_user_id": f["created_by_user_id"],
            "active_flag": True,
            "edit_flag": f["edit_flag"],
            "index_visible_flag": True,
            "details_visible_flag": True,
            "add_visible_flag": True,
            "important_flag": False,
            "bulk_edit_allowed": True,
            "searchable_flag": False,
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": False,
            "options": copy.deepcopy(f["options"]),
        }

    def field_v2(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "field_name": f["name"],
            "field_code": f["key"],
            "field_type": f["field_type"],
            "is_custom_field": f["edit_flag"],
            "is_optional_response_field": False,
            "options": None
            if f["options"] is None
            else [
                {
                    "id": o["id"],
                    "label": o["label"],
                    "color": None,
                    "add_time": rfc3339(f["add_time"]),
                    "update_time": rfc3339(f["update_time"]),
                }
                for o in f["options"]
            ],
            "subfields": None,
            "ui_visibility": {"add_visible_flag": True, "details_visible_flag": True},
        }
