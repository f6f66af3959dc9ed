"""Simulated Pipedrive: OAuth, a subset of API v1/v2, app webhooks (v1 + v2), a control surface
under `/_sim/` and a small web UI for people trying the demo.

Behaviour follows the documented Pipedrive API (see docs/reference): OAuth code/refresh flow with
non-rotating refresh tokens, Bearer auth with 401s on expired tokens, burst rate limits with the
`x-ratelimit-*` headers, cursor pagination, typed custom fields, and webhook delivery with retries
after 3/30/150 s and a 30-minute ban after 10 failed first attempts. All waits are multiplied by
`time_scale` so tests can run the whole retry schedule in a couple of seconds.

The simulator imports nothing from the app.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import functools
import hashlib
import itertools
import json
import math
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.extensions import Extensions
from sandbox.faults import FaultMiddleware, Faults
from sandbox.favicon import favicon_route

SCOPES = "base,admin,contacts:full,deals:read"
SCOPE_DESCRIPTIONS = [
    ("base", "Read your user and company data"),
    ("admin", "Manage webhooks and custom fields (admin rights)"),
    ("contacts:full", "Read, create, edit and delete persons and organizations"),
    ("deals:read", "Read deals"),
]
TOKEN_EXPIRES_IN = 3599
CODE_TTL = 300.0
RETRY_DELAYS = (3.0, 30.0, 150.0)
BAN_THRESHOLD = 10
BAN_SECONDS = 1800.0
DELIVERY_TIMEOUT = 10.0
WEBHOOKS_PER_USER = 40
MAX_LIMIT = 500

V2_ACTIONS = {"create", "change", "delete", "*"}
V1_ACTIONS = {"added", "updated", "deleted", "merged", "*"}
EVENT_OBJECTS = {
    "activity", "deal", "lead", "note", "organization", "person", "pipeline", "product", "stage",
    "user", "*",
}
V1_OF_V2 = {"create": "added", "change": "updated", "delete": "deleted"}
FIELD_TYPES = {
    "address", "date", "daterange", "double", "enum", "monetary", "org", "people", "phone", "set",
    "text", "time", "timerange", "user", "varchar", "varchar_auto", "visible_to",
}
TEXT_TYPES = {"varchar", "varchar_auto", "text", "phone", "time"}
ID_TYPES = {"user", "org", "people"}
STANDARD_PERSON_FIELDS = [
    ("name", "Name", "varchar"), ("first_name", "First name", "varchar"),
    ("last_name", "Last name", "varchar"), ("email", "Email", "varchar"),
    ("phone", "Phone", "phone"), ("org_id", "Organization", "org"),
    ("owner_id", "Owner", "user"), ("add_time", "Person created", "date"),
    ("update_time", "Update time", "date"), ("visible_to", "Visible to", "visible_to"),
]
PERSON_LABELS = ("Customer", "Hot lead", "Supplier", "Colleague")
DEMO_FIELDS: list[tuple[str, str, list[str] | None]] = [
    ("Birthday note", "varchar", None), ("Score", "double", None), ("Budget", "monetary", None),
    ("Next call", "date", None), ("Tier", "enum", ["Gold", "Silver", "Bronze"]),
    ("Interests", "set", ["News", "Events", "Offers"]), ("Mobile", "phone", None),
    ("Office", "address", None),
]
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class ApiError(Exception):
    """An error answer; raised anywhere below a route and turned into a JSON response."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error") or body.get("message"))
        self.status = status
        self.body = body


def _err(status: int, message: str) -> ApiError:
    return ApiError(status, {"success": False, "error": message, "errorCode": status})


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def _v1_time(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else None


def _iso_ms(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_rfc3339(value: str, name: str) -> datetime:
    text = value.strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise _err(400, f"Validation failed: {name}: Invalid RFC3339 date-time") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _field_key(company_id: int, field_id: int, name: str) -> str:
    return hashlib.sha256(f"{company_id}:{field_id}:{name}".encode()).hexdigest()[:40]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class _Installation:
    id: int
    company_id: int
    user_id: int
    refresh_token: str
    active: bool = True


@dataclass
class _AccessToken:
    token: str
    install_id: int
    company_id: int
    user_id: int
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass
class _Auth:
    token: str
    company_id: int
    user_id: int


@dataclass
class _Event:
    id: str
    correlation_id: str
    company_id: int
    entity: str
    entity_id: int
    v2_action: str | None
    v1_action: str | None
    change_source: str
    user_id: int
    timestamp: datetime
    v2_data: Any = None
    v2_previous: Any = None
    v1_current: Any = None
    v1_previous: Any = None
    merged_to_id: int | None = None
    merged_from_id: int | None = None


@dataclass
class _Job:
    id: int
    webhook_id: int
    event: _Event
    attempts: list[int] = field(default_factory=list)


class PipedriveSim:
    """In-memory Pipedrive with real HTTP behaviour; see the module docstring."""

    def __init__(
        self, *, client_id: str, client_secret: str, time_scale: float = 1.0,
        seed_demo: bool = True,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.time_scale = time_scale
        self.base_url = "http://127.0.0.1"
        self.faults = Faults()
        self.rate_limit = 80
        self.token_lifetime: float | None = None
        self.delivery_timeout = max(DELIVERY_TIMEOUT * time_scale, 1.0)
        self.registered_redirect_uri: str | None = None
        # The app's base URL for its custom UI (panel, settings) and the JWT secret "Pipedrive"
        # signs those iframes' tokens with (default: the client secret); see extensions.py.
        self.app_url: str | None = None
        self.jwt_secret: str | None = None
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_jobs: list[Callable[[], Awaitable[None]]] = []
        self._jobs: dict[int, float | None] = {}
        self._job_ids = itertools.count(1)
        self._seed(seed_demo)
        self.app: ASGIApp = _OuterApp(self, self._build_app())

    # ------------------------------------------------------------------ state and seeding

    def _seed(self, seed_demo: bool) -> None:
        self._ids: dict[str, itertools.count[int]] = {
            name: itertools.count(1) for name in (
                "person", "organization", "deal", "webhook", "field", "option", "pipeline",
                "stage", "install", "bulk", "label",
            )
        }
        self._ids["option"] = itertools.count(11)
        self.companies: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.persons: dict[int, dict[str, Any]] = {}
        self.deals: dict[int, dict[str, Any]] = {}
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.stages: dict[int, dict[str, Any]] = {}
        self.person_fields: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=20000)
        self.requests: deque[dict[str, Any]] = deque(maxlen=20000)
        self.codes: dict[str, dict[str, Any]] = {}
        self.installations: dict[int, _Installation] = {}
        self.access_tokens: dict[str, _AccessToken] = {}
        self.refresh_calls = 0
        self.token_calls = 0
        self._rate: dict[str, deque[float]] = {}
        now = _now()
        for cid, name, domain, users, orgs in (
            (1001, "Acme Sales", "acme",
             [(501, "Ada Admin", "ada@acme.test", True),
              (502, "Sam Sales", "sam@acme.test", False)],
             ["Acme Corp", "Initech"]),
            (2002, "Globex", "globex", [(601, "Gina Globex", "gina@globex.test", True)],
             ["Globex Corporation", "Hooli"]),
        ):
            self.companies[cid] = {"id": cid, "name": name, "domain": domain}
            for uid, uname, email, admin in users:
                self.users[uid] = {
                    "id": uid, "name": uname, "email": email, "company_id": cid, "is_admin": admin,
                }
            admin_id = users[0][0]
            for org_name in orgs:
                oid = next(self._ids["organization"])
                self.organizations[oid] = {
                    "id": oid, "company_id": cid, "name": org_name, "owner_id": admin_id,
                    "add_time": now, "update_time": now, "address": None, "visible_to": 3,
                    "label_ids": [], "custom_fields": {},
                }
            pid = next(self._ids["pipeline"])
            self.pipelines[pid] = {"id": pid, "company_id": cid, "name": "Sales", "order_nr": 1}
            for order, stage_name in enumerate(("Qualified", "Proposal", "Won-ready"), start=1):
                sid = next(self._ids["stage"])
                self.stages[sid] = {
                    "id": sid, "company_id": cid, "name": stage_name, "pipeline_id": pid,
                    "order_nr": order,
                }
            for key, fname, ftype in STANDARD_PERSON_FIELDS:
                self._add_field(cid, fname, ftype, None, key=key, user_id=admin_id)
            for fname, ftype, options in DEMO_FIELDS:
                self._add_field(cid, fname, ftype, options, user_id=admin_id)
        for cid in self.companies:  # person labels: a standard field with its own option ids
            labels = self._add_field(cid, "Labels", "set", None, key="label_ids")
            labels["options"] = [{"id": next(self._ids["label"]), "label": name}
                                 for name in PERSON_LABELS]
        if seed_demo:
            self._seed_demo()

    def _seed_demo(self) -> None:
        tier = self._field_by_name(1001, "Tier")
        interests = self._field_by_name(1001, "Interests")
        assert tier and interests
        opt = {o["label"]: o["id"] for o in tier["options"] + interests["options"]}
        acme_orgs = [o["id"] for o in self.organizations.values() if o["company_id"] == 1001]
        people: list[tuple[int, dict[str, Any]]] = [
            (1001, {"name": "Alice Example", "email": "alice@example.com", "org_id": acme_orgs[0],
                    "custom_fields": {self._key(1001, "Tier"): opt["Gold"],
                                      self._key(1001, "Interests"): [opt["News"], opt["Events"]]}}),
            (1001, {"name": "Bob Builder", "email": "bob@example.com", "org_id": acme_orgs[1],
                    "custom_fields": {self._key(1001, "Score"): 42}}),
            (1001, {"name": "Carol Customer", "email": "carol@example.com"}),
            (2002, {"name": "Dave Globex", "email": "dave@globex.test"}),
        ]
        ids = [self._create_person(cid, body, "app", None, strict=False, fire=False)["id"]
               for cid, body in people]
        self._create_deal(1001, {"title": "Website redesign", "value": 5000, "currency": "EUR",
                                 "person_id": ids[0], "org_id": acme_orgs[0]},
                          "app", None, strict=False, fire=False)

    def _add_field(
        self, company_id: int, name: str, field_type: str, options: list[str] | None, *,
        key: str | None = None, user_id: int | None = None,
    ) -> dict[str, Any]:
        fid = next(self._ids["field"])
        now = _now()
        custom = key is None
        opts = None
        if field_type in ("enum", "set"):
            opts = [{"id": next(self._ids["option"]), "label": label} for label in options or []]
        record = {
            "id": fid, "company_id": company_id, "key": key or _field_key(company_id, fid, name),
            "name": name, "field_type": field_type, "options": opts, "edit_flag": custom,
            "add_time": now, "update_time": now, "created_by_user_id": user_id,
            "order_nr": len([f for f in self.person_fields.values()
                             if f["company_id"] == company_id]) + 1,
        }
        self.person_fields[fid] = record
        return record

    def _custom_fields(self, company_id: int) -> list[dict[str, Any]]:
        return [f for f in self.person_fields.values()
                if f["company_id"] == company_id and f["edit_flag"]]

    def _field_by_name(self, company_id: int, name: str) -> dict[str, Any] | None:
        for f in self.person_fields.values():
            if f["company_id"] == company_id and f["name"] == name:
                return f
        return None

    def _key(self, company_id: int, name: str) -> str:
        f = self._field_by_name(company_id, name)
        if f is None:
            raise KeyError(name)
        return str(f["key"])

    def _admin_of(self, company_id: int) -> int:
        for u in self.users.values():
            if u["company_id"] == company_id and u["is_admin"]:
                return int(u["id"])
        raise KeyError(company_id)

    def _company(self, company_id: Any) -> int:
        try:
            cid = int(company_id)
        except (TypeError, ValueError):
            raise _err(400, "company_id is required") from None
        if cid not in self.companies:
            raise _err(404, "Company not found")
        return cid

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    # ------------------------------------------------------------------ representations

    def _cf_plain(self, company_id: int, values: dict[str, Any]) -> dict[str, Any]:
        return {f["key"]: copy.deepcopy(values.get(f["key"]))
                for f in self._custom_fields(company_id)}

    def _cf_typed(self, company_id: int, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self._custom_fields(company_id):
            value = values.get(f["key"])
            t = f["field_type"]
            if value is None:
                out[f["key"]] = None
            elif t == "enum":
                out[f["key"]] = {"id": value, "type": "enum"}
            elif t == "set":
                out[f["key"]] = {"values": [{"id": v} for v in value], "type": "set"}
            elif t == "monetary":
                out[f["key"]] = {"currency": value.get("currency"), "type": "monetary",
                                 "value": value.get("value")}
            elif t == "address":
                out[f["key"]] = {"type": "address", "formatted_address": value.get("value"),
                                 **value}
            elif t == "daterange":
                out[f["key"]] = {"from": value.get("value"), "until": value.get("until"),
                                 "type": "daterange"}
            elif t in ID_TYPES:
                out[f["key"]] = {"id": value, "type": t}
            else:
                out[f["key"]] = {"type": t, "value": value}
        return out

    def _cf_v1(self, company_id: int, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self._custom_fields(company_id):
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

    def _person_v2(self, p: dict[str, Any], with_company: bool = False) -> dict[str, Any]:
        out = {
            "id": p["id"], "name": p["name"], "first_name": p["first_name"],
            "last_name": p["last_name"], "owner_id": p["owner_id"], "org_id": p["org_id"],
            "add_time": _rfc3339(p["add_time"]), "update_time": _rfc3339(p["update_time"]),
            "emails": copy.deepcopy(p["emails"]), "phones": copy.deepcopy(p["phones"]),
            "is_deleted": False, "visible_to": p["visible_to"], "label_ids": list(p["label_ids"]),
            "picture_id": None,
            "custom_fields": self._cf_plain(p["company_id"], p["custom_fields"]),
        }
        if with_company:
            out["company_id"] = p["company_id"]
        return out

    def _person_hook2(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "add_time": _rfc3339(p["add_time"]),
            "custom_fields": self._cf_typed(p["company_id"], p["custom_fields"]),
            "emails": copy.deepcopy(p["emails"]), "first_name": p["first_name"], "id": p["id"],
            "label": None, "label_ids": list(p["label_ids"]), "last_name": p["last_name"],
            "name": p["name"], "org_id": p["org_id"], "owner_id": p["owner_id"],
            "phones": copy.deepcopy(p["phones"]), "update_time": _rfc3339(p["update_time"]),
            "visible_to": str(p["visible_to"]),
        }

    def _person_v1(self, p: dict[str, Any]) -> dict[str, Any]:
        org = self.organizations.get(p["org_id"]) if p["org_id"] else None
        owner = self.users.get(p["owner_id"])
        primary = next((e["value"] for e in p["emails"] if e.get("primary")), None)
        out = {
            "id": p["id"], "company_id": p["company_id"], "owner_id": p["owner_id"],
            "org_id": p["org_id"], "name": p["name"], "first_name": p["first_name"],
            "last_name": p["last_name"], "phone": copy.deepcopy(p["phones"]) or [
                {"value": "", "primary": True}],
            "email": copy.deepcopy(p["emails"]) or [{"value": "", "primary": True}],
            "primary_email": primary, "visible_to": str(p["visible_to"]),
            "add_time": _v1_time(p["add_time"]), "update_time": _v1_time(p["update_time"]),
            "active_flag": True, "label": None, "org_name": org["name"] if org else None,
            "owner_name": owner["name"] if owner else None,
        }
        out.update(self._cf_v1(p["company_id"], p["custom_fields"]))
        return out

    def _org_v2(self, o: dict[str, Any], with_company: bool = False) -> dict[str, Any]:
        out = {
            "id": o["id"], "name": o["name"], "owner_id": o["owner_id"],
            "add_time": _rfc3339(o["add_time"]), "update_time": _rfc3339(o["update_time"]),
            "address": copy.deepcopy(o["address"]), "is_deleted": False,
            "visible_to": o["visible_to"], "label_ids": list(o["label_ids"]),
            "custom_fields": copy.deepcopy(o["custom_fields"]),
        }
        if with_company:
            out["company_id"] = o["company_id"]
        return out

    def _org_hook2(self, o: dict[str, Any]) -> dict[str, Any]:
        return {
            "add_time": _rfc3339(o["add_time"]), "address": copy.deepcopy(o["address"]),
            "country_code": None, "custom_fields": copy.deepcopy(o["custom_fields"]),
            "id": o["id"], "label": None, "label_ids": list(o["label_ids"]), "name": o["name"],
            "owner_id": o["owner_id"], "picture_id": None,
            "update_time": _rfc3339(o["update_time"]),
            "visible_to": str(o["visible_to"]),
        }

    def _org_v1(self, o: dict[str, Any]) -> dict[str, Any]:
        address = o["address"] or {}
        return {
            "id": o["id"], "company_id": o["company_id"], "owner_id": o["owner_id"],
            "name": o["name"], "address": address.get("value"), "visible_to": str(o["visible_to"]),
            "add_time": _v1_time(o["add_time"]), "update_time": _v1_time(o["update_time"]),
            "active_flag": True, "label": None,
        }

    def _deal_v2(self, d: dict[str, Any], with_company: bool = False) -> dict[str, Any]:
        out = {
            "id": d["id"], "title": d["title"], "creator_user_id": d["creator_user_id"],
            "owner_id": d["owner_id"], "value": d["value"], "person_id": d["person_id"],
            "org_id": d["org_id"], "stage_id": d["stage_id"], "pipeline_id": d["pipeline_id"],
            "currency": d["currency"], "archive_time": None,
            "add_time": _rfc3339(d["add_time"]), "update_time": _rfc3339(d["update_time"]),
            "stage_change_time": _rfc3339(d["stage_change_time"]), "status": d["status"],
            "is_archived": False, "is_deleted": False, "probability": None,
            "lost_reason": d["lost_reason"], "visible_to": d["visible_to"],
            "close_time": _rfc3339(d["close_time"]), "won_time": _rfc3339(d["won_time"]),
            "lost_time": _rfc3339(d["lost_time"]),
            "expected_close_date": d["expected_close_date"], "label_ids": list(d["label_ids"]),
            "origin": d["origin"], "origin_id": None, "channel": None, "channel_id": None,
            "custom_fields": copy.deepcopy(d["custom_fields"]),
        }
        if with_company:
            out["company_id"] = d["company_id"]
        return out

    def _deal_hook2(self, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "add_time": _rfc3339(d["add_time"]), "channel": None, "channel_id": None,
            "close_time": _rfc3339(d["close_time"]), "creator_user_id": d["creator_user_id"],
            "currency": d["currency"], "custom_fields": copy.deepcopy(d["custom_fields"]),
            "expected_close_date": d["expected_close_date"], "first_won_time": _rfc3339(
                d["won_time"]), "id": d["id"], "label_ids": list(d["label_ids"]),
            "lost_reason": d["lost_reason"], "lost_time": _rfc3339(d["lost_time"]),
            "org_id": d["org_id"], "origin": d["origin"], "origin_id": None,
            "owner_id": d["owner_id"], "person_id": d["person_id"],
            "pipeline_id": d["pipeline_id"], "probability": None,
            "stage_change_time": _rfc3339(d["stage_change_time"]), "stage_id": d["stage_id"],
            "status": d["status"], "title": d["title"], "update_time": _rfc3339(d["update_time"]),
            "value": d["value"], "visible_to": str(d["visible_to"]),
            "won_time": _rfc3339(d["won_time"]),
        }

    def _deal_v1(self, d: dict[str, Any]) -> dict[str, Any]:
        person = self.persons.get(d["person_id"]) if d["person_id"] else None
        org = self.organizations.get(d["org_id"]) if d["org_id"] else None
        return {
            "id": d["id"], "company_id": d["company_id"], "creator_user_id": d["creator_user_id"],
            "user_id": d["owner_id"], "person_id": d["person_id"], "org_id": d["org_id"],
            "stage_id": d["stage_id"], "pipeline_id": d["pipeline_id"], "title": d["title"],
            "value": d["value"], "currency": d["currency"], "status": d["status"],
            "add_time": _v1_time(d["add_time"]), "update_time": _v1_time(d["update_time"]),
            "stage_change_time": _v1_time(d["stage_change_time"]),
            "won_time": _v1_time(d["won_time"]), "lost_time": _v1_time(d["lost_time"]),
            "close_time": _v1_time(d["close_time"]), "lost_reason": d["lost_reason"],
            "expected_close_date": d["expected_close_date"], "visible_to": str(d["visible_to"]),
            "active": d["status"] == "open", "deleted": False,
            "person_name": person["name"] if person else None,
            "org_name": org["name"] if org else None,
        }

    def _render(self, entity: str, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(v2 webhook form, v1 webhook form) of a record."""
        if entity == "person":
            return self._person_hook2(record), self._person_v1(record)
        if entity == "deal":
            return self._deal_hook2(record), self._deal_v1(record)
        return self._org_hook2(record), self._org_v1(record)

    def _api_form(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        if entity == "person":
            return self._person_v2(record)
        if entity == "deal":
            return self._deal_v2(record)
        return self._org_v2(record)

    # ------------------------------------------------------------------ input validation

    def _coerce_cf(self, f: dict[str, Any], value: Any, strict: bool) -> Any:
        key, t = f["key"], f["field_type"]

        def bad(why: str) -> ApiError:
            return _err(400, f"Validation failed: custom_fields.{key}: {why}")

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
            if not _is_number(value):
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
            if not _is_number(amount):
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

    def _apply_cf(
        self, company_id: int, current: dict[str, Any], body: Any, strict: bool,
    ) -> dict[str, Any]:
        if body is None:
            return current
        if not isinstance(body, dict):
            raise _err(400, "Validation failed: custom_fields: must be an object")
        by_key = {f["key"]: f for f in self._custom_fields(company_id)}
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
    def _contacts(value: Any, name: str, strict: bool) -> list[dict[str, Any]]:
        if value is None:
            return []
        if isinstance(value, str):
            if strict:
                raise _err(400, f"Validation failed: {name}: must be an array of objects")
            value = [{"value": v.strip()} for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise _err(400, f"Validation failed: {name}: must be an array of objects")
        out: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, str) and not strict:
                item = {"value": item}
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise _err(400, f"Validation failed: {name}: each item needs a string value")
            out.append({"value": item["value"], "primary": bool(item.get("primary", False)),
                        "label": str(item.get("label") or "work")})
        if sum(1 for e in out if e["primary"]) > 1:
            raise _err(400, f"Validation failed: {name}: only one item can be primary")
        if out and not any(e["primary"] for e in out):
            out[0]["primary"] = True
        return out

    def _check_org(self, company_id: int, org_id: Any) -> int | None:
        if org_id in (None, "", 0):
            return None
        try:
            oid = int(org_id)
        except (TypeError, ValueError):
            raise _err(400, "Validation failed: org_id: must be a number") from None
        org = self.organizations.get(oid)
        if org is None or org["company_id"] != company_id:
            raise _err(400, f"Organization {oid} not found")
        return oid

    def _check_user(self, company_id: int, user_id: Any, name: str = "owner_id") -> int:
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            raise _err(400, f"Validation failed: {name}: must be a number") from None
        user = self.users.get(uid)
        if user is None or user["company_id"] != company_id:
            raise _err(400, f"User {uid} not found")
        return uid

    def _check_labels(self, company_id: int, value: Any) -> list[int]:
        known = {o["id"] for f in self.person_fields.values()
                 if f["company_id"] == company_id and f["key"] == "label_ids"
                 for o in f["options"] or []}
        if not isinstance(value, list) or not all(
                isinstance(x, int) and not isinstance(x, bool) and x in known for x in value):
            raise _err(400, "Validation failed: label_ids: must be a list of existing label ids")
        return sorted(set(value))

    def _check_person(self, company_id: int, person_id: Any) -> int | None:
        if person_id in (None, "", 0):
            return None
        try:
            pid = int(person_id)
        except (TypeError, ValueError):
            raise _err(400, "Validation failed: person_id: must be a number") from None
        person = self.persons.get(pid)
        if person is None or person["company_id"] != company_id:
            raise _err(400, f"Person {pid} not found")
        return pid

    # ------------------------------------------------------------------ persons

    def _apply_person(
        self, p: dict[str, Any], body: dict[str, Any], strict: bool, creating: bool,
    ) -> None:
        cid = p["company_id"]
        for name in ("name", "first_name", "last_name"):
            if name in body and body[name] is not None and not isinstance(body[name], str):
                raise _err(400, f"Validation failed: {name}: must be a string")
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
        if "emails" in body or "email" in body:
            raw = body["emails"] if "emails" in body else body.get("email")
            if "emails" not in body and strict:
                raise _err(400, "Validation failed: email: use emails")
            p["emails"] = self._contacts(raw, "emails", strict)
        if "phones" in body or "phone" in body:
            raw = body["phones"] if "phones" in body else body.get("phone")
            p["phones"] = self._contacts(raw, "phones", strict)
        if "org_id" in body:
            p["org_id"] = self._check_org(cid, body["org_id"])
        if body.get("owner_id") is not None:
            p["owner_id"] = self._check_user(cid, body["owner_id"])
        if "visible_to" in body:
            if body["visible_to"] not in (1, 3, 5, 7):
                raise _err(400, "Validation failed: visible_to: must be one of 1, 3, 5, 7")
            p["visible_to"] = body["visible_to"]
        if "label_ids" in body:
            p["label_ids"] = self._check_labels(cid, body["label_ids"])
        p["custom_fields"] = self._apply_cf(cid, p["custom_fields"], body.get("custom_fields"),
                                            strict)
        if not p["name"]:
            if creating and not strict and p["emails"]:
                p["name"] = p["emails"][0]["value"].split("@")[0]
                p["first_name"] = p["name"]
            else:
                raise _err(400, "Validation failed: name: Either name or both first_name and "
                                "last_name must be provided")

    def _create_person(
        self, company_id: Any, body: dict[str, Any], source: str, user_id: int | None, *,
        strict: bool, fire: bool = True,
    ) -> dict[str, Any]:
        with self._lock:
            cid = self._company(company_id)
            actor = user_id or self._admin_of(cid)
            now = _now()
            p: dict[str, Any] = {
                "id": 0, "company_id": cid, "name": "", "first_name": None, "last_name": None,
                "org_id": None, "owner_id": actor, "add_time": now, "update_time": now,
                "emails": [], "phones": [], "visible_to": 3, "label_ids": [], "custom_fields": {},
            }
            self._apply_person(p, body, strict, creating=True)
            p["id"] = next(self._ids["person"])
            self.persons[p["id"]] = p
            if fire:
                self._emit(cid, "person", p["id"], None, p, source, actor, v2="create", v1="added")
            return self._person_v2(p, with_company=True)

    def _get_person(self, person_id: int, company_id: int | None) -> dict[str, Any]:
        p = self.persons.get(person_id)
        if p is None or (company_id is not None and p["company_id"] != company_id):
            raise _err(404, "Person not found")
        return p

    def _update_person(
        self, person_id: int, body: dict[str, Any], source: str, user_id: int | None, *,
        company_id: int | None = None, strict: bool,
    ) -> dict[str, Any]:
        with self._lock:
            old = self._get_person(person_id, company_id)
            new = copy.deepcopy(old)
            self._apply_person(new, body, strict, creating=False)
            self._commit_change("person", self.persons, old, new, source, user_id)
            return self._person_v2(self.persons[person_id], with_company=True)

    def _commit_change(
        self, entity: str, table: dict[int, dict[str, Any]], old: dict[str, Any],
        new: dict[str, Any], source: str, user_id: int | None,
        merged_from_id: int | None = None,
    ) -> bool:
        """Store `new` if it differs from `old` (bumping update_time) and fire `change`."""
        before, after = self._api_form(entity, old), self._api_form(entity, new)
        before.pop("update_time")
        after.pop("update_time")
        if before == after and merged_from_id is None:
            return False
        new["update_time"] = _now()
        table[new["id"]] = new
        actor = user_id or self._admin_of(new["company_id"])
        self._emit(new["company_id"], entity, new["id"], old, new, source, actor,
                   v2="change", v1="updated" if merged_from_id is None else "merged",
                   merged_from_id=merged_from_id)
        return True

    def _delete_person(
        self, person_id: int, source: str, user_id: int | None, *, company_id: int | None = None,
    ) -> None:
        with self._lock:
            p = self._get_person(person_id, company_id)
            del self.persons[person_id]
            actor = user_id or self._admin_of(p["company_id"])
            self._emit(p["company_id"], "person", person_id, p, None, source, actor,
                       v2="delete", v1="deleted")

    def _merge_persons(
        self, person_id: int, into: int, source: str, user_id: int | None,
    ) -> dict[str, Any]:
        with self._lock:
            loser = self._get_person(person_id, None)
            survivor_old = self._get_person(into, loser["company_id"])
            if person_id == into:
                raise _err(400, "Cannot merge a person into itself")
            cid = loser["company_id"]
            actor = user_id or self._admin_of(cid)
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
            del self.persons[person_id]
            self._emit(cid, "person", person_id, loser, None, source, actor, v2="delete", v1=None,
                       merged_to_id=into, correlation_id=correlation)
            self._commit_change("person", self.persons, survivor_old, survivor, source, actor,
                                merged_from_id=person_id)
            self._emit(cid, "person", person_id, loser, None, source, actor, v2=None,
                       v1="deleted", correlation_id=correlation)
            for deal in list(self.deals.values()):
                if deal["person_id"] == person_id:
                    moved = {**copy.deepcopy(deal), "person_id": into}
                    self._commit_change("deal", self.deals, deal, moved, source, actor)
            return self._person_v2(self.persons[into], with_company=True)

    def _bulk_persons(
        self, company_id: Any, count: int, email_domain: str, fire: bool,
    ) -> list[int]:
        with self._lock:
            cid = self._company(company_id)
            ids = []
            for _ in range(count):
                n = next(self._ids["bulk"])
                body = {"name": f"Bulk Person {n}",
                        "emails": [{"value": f"bulk{n}@{email_domain}", "primary": True}]}
                ids.append(self._create_person(cid, body, "app", None, strict=False,
                                               fire=fire)["id"])
            return ids

    # ------------------------------------------------------------------ deals / organizations

    def _apply_deal(self, d: dict[str, Any], body: dict[str, Any], strict: bool) -> None:
        cid = d["company_id"]
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise _err(400, "Validation failed: title: must be a non-empty string")
            d["title"] = body["title"].strip()
        if "value" in body:
            value = body["value"]
            if not strict and isinstance(value, str):
                try:
                    value = float(value) if value.strip() else 0
                except ValueError:
                    raise _err(400, "Validation failed: value: must be a number") from None
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
            if not _is_number(value):
                raise _err(400, "Validation failed: value: must be a number")
            d["value"] = value
        if body.get("currency"):
            d["currency"] = str(body["currency"]).upper()
        if "person_id" in body:
            d["person_id"] = self._check_person(cid, body["person_id"])
        if "org_id" in body:
            d["org_id"] = self._check_org(cid, body["org_id"])
        if body.get("owner_id") is not None:
            d["owner_id"] = self._check_user(cid, body["owner_id"])
        if body.get("stage_id") not in (None, ""):
            try:
                stage = self.stages.get(int(body["stage_id"]))
            except (TypeError, ValueError):
                stage = None
            if stage is None or stage["company_id"] != cid:
                raise _err(400, f"Stage {body['stage_id']} not found")
            if stage["id"] != d["stage_id"]:
                d["stage_id"], d["pipeline_id"] = stage["id"], stage["pipeline_id"]
                d["stage_change_time"] = _now()
        if "expected_close_date" in body:
            ecd = body["expected_close_date"] or None
            if ecd is not None:
                try:
                    date.fromisoformat(ecd)
                except (TypeError, ValueError):
                    raise _err(400, "Validation failed: expected_close_date: YYYY-MM-DD") from None
            d["expected_close_date"] = ecd
        if "lost_reason" in body:
            d["lost_reason"] = body["lost_reason"] or None
        if "visible_to" in body and body["visible_to"] in (1, 3, 5, 7):
            d["visible_to"] = body["visible_to"]
        if body.get("status") and body["status"] != d["status"]:
            status = body["status"]
            if status not in ("open", "won", "lost"):
                raise _err(400, "Validation failed: status: must be one of open, won, lost")
            now = _now()
            d["status"] = status
            d["won_time"] = now if status == "won" else None
            d["lost_time"] = now if status == "lost" else None
            d["close_time"] = None if status == "open" else now
            if status != "lost":
                d["lost_reason"] = None
        if isinstance(body.get("custom_fields"), dict):
            d["custom_fields"].update(body["custom_fields"])

    def _create_deal(
        self, company_id: Any, body: dict[str, Any], source: str, user_id: int | None, *,
        strict: bool, fire: bool = True,
    ) -> dict[str, Any]:
        with self._lock:
            cid = self._company(company_id)
            actor = user_id or self._admin_of(cid)
            if not body.get("title"):
                raise _err(400, "Validation failed: title: required")
            first_stage = min((s for s in self.stages.values() if s["company_id"] == cid),
                              key=lambda s: s["id"])
            now = _now()
            d: dict[str, Any] = {
                "id": 0, "company_id": cid, "title": "", "value": 0, "currency": "EUR",
                "owner_id": actor, "creator_user_id": actor, "person_id": None, "org_id": None,
                "stage_id": first_stage["id"], "pipeline_id": first_stage["pipeline_id"],
                "status": "open", "add_time": now, "update_time": now, "stage_change_time": None,
                "expected_close_date": None, "won_time": None, "lost_time": None,
                "close_time": None, "lost_reason": None, "visible_to": 3, "label_ids": [],
                "origin": "API" if source == "api" else "ManuallyCreated", "custom_fields": {},
            }
            self._apply_deal(d, body, strict)
            d["stage_change_time"] = None
            d["id"] = next(self._ids["deal"])
            self.deals[d["id"]] = d
            if fire:
                self._emit(cid, "deal", d["id"], None, d, source, actor, v2="create", v1="added")
            return self._deal_v2(d, with_company=True)

    def _get_deal(self, deal_id: int, company_id: int | None) -> dict[str, Any]:
        d = self.deals.get(deal_id)
        if d is None or (company_id is not None and d["company_id"] != company_id):
            raise _err(404, "Deal not found")
        return d

    def _update_deal(
        self, deal_id: int, body: dict[str, Any], source: str, user_id: int | None, *,
        company_id: int | None = None, strict: bool,
    ) -> dict[str, Any]:
        with self._lock:
            old = self._get_deal(deal_id, company_id)
            new = copy.deepcopy(old)
            self._apply_deal(new, body, strict)
            self._commit_change("deal", self.deals, old, new, source, user_id)
            return self._deal_v2(self.deals[deal_id], with_company=True)

    def _delete_deal(
        self, deal_id: int, source: str, user_id: int | None, *, company_id: int | None = None,
    ) -> None:
        with self._lock:
            d = self._get_deal(deal_id, company_id)
            del self.deals[deal_id]
            actor = user_id or self._admin_of(d["company_id"])
            self._emit(d["company_id"], "deal", deal_id, d, None, source, actor,
                       v2="delete", v1="deleted")

    def _create_org(self, company_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            cid = self._company(company_id)
            actor = self._admin_of(cid)
            if not body.get("name"):
                raise _err(400, "Validation failed: name: required")
            now = _now()
            o: dict[str, Any] = {"id": next(self._ids["organization"]), "company_id": cid,
                 "name": str(body["name"]), "owner_id": actor, "add_time": now,
                 "update_time": now, "address": None, "visible_to": 3, "label_ids": [],
                 "custom_fields": {}}
            if body.get("address"):
                o["address"] = {"value": str(body["address"])}
            self.organizations[o["id"]] = o
            self._emit(cid, "organization", o["id"], None, o, "app", actor, v2="create",
                       v1="added")
            return self._org_v2(o, with_company=True)

    def _update_org(self, org_id: int, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            old = self.organizations.get(org_id)
            if old is None:
                raise _err(404, "Organization not found")
            new = copy.deepcopy(old)
            if body.get("name"):
                new["name"] = str(body["name"])
            if "address" in body:
                new["address"] = {"value": str(body["address"])} if body["address"] else None
            if isinstance(body.get("custom_fields"), dict):
                new["custom_fields"].update(body["custom_fields"])
            self._commit_change("organization", self.organizations, old, new, "app", None)
            return self._org_v2(self.organizations[org_id], with_company=True)

    # ------------------------------------------------------------------ webhook events

    def _emit(
        self, company_id: int, entity: str, entity_id: int, before: dict[str, Any] | None,
        after: dict[str, Any] | None, source: str, user_id: int, *, v2: str | None,
        v1: str | None, merged_to_id: int | None = None, merged_from_id: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Queue deliveries of one event to every matching webhook (called under the lock)."""
        hooks = []
        for hook in self.webhooks.values():
            if hook["company_id"] != company_id or hook["event_object"] not in (entity, "*"):
                continue
            action = v2 if hook["version"] == "2.0" else v1
            if action is not None and hook["event_action"] in (action, "*"):
                hooks.append(hook)
        if not hooks:
            return
        ev = _Event(
            id=str(uuid.uuid4()), correlation_id=correlation_id or str(uuid.uuid4()),
            company_id=company_id, entity=entity, entity_id=entity_id, v2_action=v2,
            v1_action=v1, change_source=source, user_id=user_id, timestamp=_now(),
            merged_to_id=merged_to_id, merged_from_id=merged_from_id,
        )
        b2, b1 = self._render(entity, before) if before else (None, None)
        a2, a1 = self._render(entity, after) if after else (None, None)
        ev.v1_current, ev.v1_previous = a1, b1
        if v2 == "create":
            ev.v2_data, ev.v2_previous = a2, None
        elif v2 == "delete":
            ev.v2_data, ev.v2_previous = None, b2
            if merged_to_id is not None and b2 is not None:
                b2["merged_to_id"] = merged_to_id
        elif v2 == "change" and a2 is not None and b2 is not None:
            ev.v2_data, ev.v2_previous = a2, _changed_fields(b2, a2)
            if merged_from_id is not None:
                a2["merged_from_id"] = merged_from_id
        now = time.time()
        for hook in hooks:
            if (hook["banned_until"] or 0) > now:
                self._record(hook, ev, 1, None, "webhook banned: event lost", lost=True)
                continue
            job = _Job(next(self._job_ids), hook["id"], ev)
            self._jobs[job.id] = None
            self._launch(functools.partial(self._deliver, job))

    def _payload(self, hook: dict[str, Any], ev: _Event, attempt: int) -> dict[str, Any]:
        permitted = [u["id"] for u in self.users.values() if u["company_id"] == ev.company_id]
        if hook["version"] == "2.0":
            meta: dict[str, Any] = {
                "action": ev.v2_action, "entity": ev.entity, "company_id": str(ev.company_id),
                "correlation_id": ev.correlation_id, "entity_id": str(ev.entity_id), "id": ev.id,
                "is_bulk_edit": False, "timestamp": _iso_ms(ev.timestamp), "type": "application",
                "user_id": str(ev.user_id), "version": "2.0", "webhook_id": str(hook["id"]),
                "webhook_owner_id": str(hook["owner_id"]), "change_source": ev.change_source,
                "attempt": attempt, "host": self.host,
                "permitted_user_ids": [str(u) for u in permitted],
            }
            if ev.merged_to_id is not None:
                meta["merged_to_id"] = str(ev.merged_to_id)
            if ev.merged_from_id is not None:
                meta["merged_from_id"] = str(ev.merged_from_id)
            return {"data": ev.v2_data, "previous": ev.v2_previous, "meta": meta}
        micro = int(ev.timestamp.timestamp() * 1_000_000)
        filters: dict[str, list[Any]] = {"current": [], "previous": []}
        return {
            "v": 1, "matches_filters": filters,
            "meta": {
                "v": 1, "action": ev.v1_action, "object": ev.entity,
                "change_source": ev.change_source, "id": ev.entity_id,
                "company_id": ev.company_id, "user_id": ev.user_id, "host": self.host,
                "timestamp": micro // 1_000_000, "timestamp_micro": micro,
                "permitted_user_ids": [], "trans_pending": False, "is_bulk_update": False,
                "pipedrive_service_name": False, "matches_filters": filters,
                "webhook_id": str(hook["id"]),
            },
            "retry": attempt - 1,
            "current": ev.v1_current, "previous": ev.v1_previous,
            "event": f"{ev.v1_action}.{ev.entity}",
        }

    def _record(
        self, hook: dict[str, Any], ev: _Event, attempt: int, status: int | None,
        error: str | None, *, lost: bool = False,
    ) -> None:
        self.deliveries.append({
            "webhook_id": hook["id"], "company_id": hook["company_id"], "event_id": ev.id,
            "entity": ev.entity, "entity_id": ev.entity_id,
            "action": ev.v2_action if hook["version"] == "2.0" else ev.v1_action,
            "version": hook["version"], "url": hook["subscription_url"], "attempt": attempt,
            "status": status, "error": error, "lost": lost, "time": _iso_ms(_now()),
        })

    async def _deliver(self, job: _Job) -> None:
        try:
            for attempt in range(1, 5):
                with self._lock:
                    hook = self.webhooks.get(job.webhook_id)
                    if hook is None:
                        return
                    if (hook["banned_until"] or 0) > time.time():
                        self._record(hook, job.event, attempt, None,
                                     "webhook banned: event lost", lost=True)
                        return
                    self._jobs[job.id] = None
                    body = json.dumps(self._payload(hook, job.event, attempt))
                    url = hook["subscription_url"]
                    headers = {"content-type": "application/json",
                               "user-agent": "Pipedrive Webhooks (simulated)"}
                    if hook["http_auth_user"] or hook["http_auth_password"]:
                        cred = f"{hook['http_auth_user'] or ''}:{hook['http_auth_password'] or ''}"
                        headers["authorization"] = "Basic " + base64.b64encode(
                            cred.encode()).decode()
                status: int | None = None
                error: str | None = None
                try:
                    resp = await self._http().post(url, content=body, headers=headers,
                                                   timeout=self.delivery_timeout)
                    status = resp.status_code
                except httpx.TimeoutException:
                    error = "timeout"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                ok = status is not None and 200 <= status < 300
                with self._lock:
                    self._record(hook, job.event, attempt, status, error)
                    hook["last_delivery_time"] = _iso_ms(_now())
                    hook["last_http_status"] = status
                    if not ok and attempt == 1:
                        hook["fail_count"] += 1
                        if hook["fail_count"] >= BAN_THRESHOLD:
                            hook["banned_until"] = time.time() + BAN_SECONDS * self.time_scale
                            hook["fail_count"] = 0
                    if ok or attempt == 4:
                        return
                    delay = RETRY_DELAYS[attempt - 1] * self.time_scale
                    self._jobs[job.id] = time.monotonic() + delay
                await asyncio.sleep(delay)
        finally:
            with self._lock:
                self._jobs.pop(job.id, None)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    def _launch(self, factory: Callable[[], Awaitable[Any]]) -> None:
        """Run a coroutine on the server loop, from that loop or from any other thread."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (self._loop is None or running is self._loop):
            self._loop = running
            self._spawn(factory)
        elif self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._spawn, factory)
        else:
            self._pending_jobs.append(factory)

    def _spawn(self, factory: Callable[[], Awaitable[Any]]) -> None:
        task = asyncio.ensure_future(factory())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _idle(self, deadline: float) -> bool:
        with self._lock:
            return not self._pending_jobs and all(
                due is not None and due > deadline for due in self._jobs.values())

    async def wait_idle_async(self, within: float = 10.0) -> bool:
        deadline = time.monotonic() + within
        while not self._idle(deadline):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block (from a thread other than the server's) until no delivery is due."""
        deadline = time.monotonic() + timeout
        while not self._idle(deadline):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # ------------------------------------------------------------------ webhooks (admin)

    def _create_webhook(self, auth: _Auth, body: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        url = body.get("subscription_url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if not url:
            errors["subscription_url"] = ["subscription_url is required"]
        elif parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors["subscription_url"] = ["invalid or non-reachable URL"]
        version = str(body.get("version") or "2.0")
        if version not in ("1.0", "2.0"):
            errors["version"] = ["version must be 1.0 or 2.0"]
        action = body.get("event_action")
        allowed = V1_ACTIONS if version == "1.0" else V2_ACTIONS
        if not action:
            errors["event_action"] = ["event_action is required"]
        elif action not in allowed:
            errors["event_action"] = [
                f"event_action must be one of {', '.join(sorted(allowed))} for version {version}"]
        obj = body.get("event_object")
        if not obj:
            errors["event_object"] = ["event_object is required"]
        elif obj not in EVENT_OBJECTS:
            errors["event_object"] = ["invalid event_object"]
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            errors["name"] = ["name must be a string of at most 255 characters"]
        user_id = auth.user_id
        if body.get("user_id") not in (None, ""):
            try:
                user_id = self._check_user(auth.company_id, body["user_id"], "user_id")
            except ApiError:
                errors["user_id"] = ["user not found"]
        if errors:
            raise ApiError(400, {"status": "error", "success": False, "errors": errors})
        with self._lock:
            owned = [w for w in self.webhooks.values()
                     if w["company_id"] == auth.company_id and w["owner_id"] == auth.user_id]
            if len(owned) >= WEBHOOKS_PER_USER:
                raise ApiError(422, {"success": False, "error": "Webhooks limit reached",
                                     "errorCode": 422})
            hook: dict[str, Any] = {
                "id": next(self._ids["webhook"]), "company_id": auth.company_id,
                "owner_id": auth.user_id, "user_id": user_id, "event_action": action,
                "event_object": obj, "subscription_url": url, "version": version,
                "is_active": 1, "add_time": _iso_ms(_now()), "remove_time": None,
                "type": "application", "http_auth_user": body.get("http_auth_user") or None,
                "http_auth_password": body.get("http_auth_password") or None,
                "remove_reason": None, "last_delivery_time": None, "last_http_status": None,
                "admin_id": auth.user_id, "name": name,
                "fail_count": 0, "banned_until": None,
            }
            self.webhooks[hook["id"]] = hook
            return self._webhook_out(hook)

    def _webhook_out(self, hook: dict[str, Any], internal: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in hook.items() if k not in ("fail_count", "banned_until")}
        banned = (hook["banned_until"] or 0) > time.time()
        out["is_active"] = 0 if banned else 1
        if internal:
            out["fail_count"] = hook["fail_count"]
            out["banned"] = banned
            out["banned_until"] = (
                _iso_ms(datetime.fromtimestamp(hook["banned_until"], UTC)) if banned else None)
        return out

    def _uninstall_user(self, company_id: int, user_id: int) -> None:
        """Pipedrive removes the app's webhooks of a user when the app is uninstalled."""
        for hook in list(self.webhooks.values()):
            if hook["company_id"] == company_id and hook["owner_id"] == user_id:
                del self.webhooks[hook["id"]]

    # ------------------------------------------------------------------ oauth / tokens

    def _issue_token(self, install: _Installation) -> dict[str, Any]:
        now = time.time()
        lifetime = self.token_lifetime if self.token_lifetime is not None else (
            TOKEN_EXPIRES_IN * self.time_scale)
        token = "v1u:" + secrets.token_urlsafe(48)
        self.access_tokens[token] = _AccessToken(token, install.id, install.company_id,
                                                 install.user_id, now, now + lifetime)
        return {
            "access_token": token, "token_type": "Bearer",
            "refresh_token": install.refresh_token, "scope": SCOPES,
            "expires_in": TOKEN_EXPIRES_IN, "api_domain": self.base_url,
        }

    def _token_auth(self, header: str | None) -> _AccessToken | None:
        if not header or not header.lower().startswith("bearer "):
            return None
        tok = self.access_tokens.get(header[7:].strip())
        if tok is None or tok.revoked or time.time() >= tok.expires_at:
            return None
        install = self.installations.get(tok.install_id)
        if install is None or not install.active:
            return None
        return tok

    def _client_ok(self, request: Request, form: FormData) -> bool:
        header = request.headers.get("authorization", "")
        cid, secret = form.get("client_id"), form.get("client_secret")
        if header.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
        return (isinstance(cid, str) and isinstance(secret, str)
                and secrets.compare_digest(cid, self.client_id)
                and secrets.compare_digest(secret, self.client_secret))

    def _revoke_install(self, install: _Installation) -> None:
        install.active = False
        for tok in self.access_tokens.values():
            if tok.install_id == install.id:
                tok.revoked = True

    def _authorize_problem(self, client_id: str | None, redirect_uri: str | None) -> str | None:
        if client_id != self.client_id:
            return "Unknown client_id: this app is not registered."
        if not redirect_uri:
            return "Invalid request: redirect_uri is missing."
        with self._lock:
            if self.registered_redirect_uri is None:
                self.registered_redirect_uri = redirect_uri
            elif redirect_uri != self.registered_redirect_uri:
                return ("Invalid request: redirect_uri does not match the app's callback URL "
                        f"({self.registered_redirect_uri}).")
        return None

    # ------------------------------------------------------------------ rate limiting

    def _rate_check(self, token: str) -> tuple[bool, dict[str, str]]:
        window = 2.0 * self.time_scale
        now = time.monotonic()
        with self._lock:
            hits = self._rate.setdefault(token, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            allowed = len(hits) < self.rate_limit
            if allowed:
                hits.append(now)
            reset = window - (now - hits[0]) if hits else window
            headers = {
                "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-remaining": str(max(0, self.rate_limit - len(hits))),
                "x-ratelimit-reset": str(max(1, math.ceil(reset))),
            }
        return allowed, headers

    # ------------------------------------------------------------------ public python API

    def create_person(self, company_id: int, **fields: Any) -> dict[str, Any]:
        return self._create_person(company_id, fields, "app", fields.pop("user_id", None),
                                   strict=False)

    def update_person(self, person_id: int, **fields: Any) -> dict[str, Any]:
        return self._update_person(person_id, fields, "app", fields.pop("user_id", None),
                                   strict=False)

    def delete_person(self, person_id: int) -> None:
        self._delete_person(person_id, "app", None)

    def merge_persons(self, person_id: int, into: int) -> dict[str, Any]:
        return self._merge_persons(person_id, into, "app", None)

    def bulk_create_persons(
        self, company_id: int, count: int, email_domain: str = "bulk.test",
        fire_webhooks: bool = False,
    ) -> list[int]:
        return self._bulk_persons(company_id, count, email_domain, fire_webhooks)

    def create_deal(self, company_id: int, **fields: Any) -> dict[str, Any]:
        return self._create_deal(company_id, fields, "app", fields.pop("user_id", None),
                                 strict=False)

    def update_deal(self, deal_id: int, **fields: Any) -> dict[str, Any]:
        return self._update_deal(deal_id, fields, "app", fields.pop("user_id", None),
                                 strict=False)

    def delete_deal(self, deal_id: int) -> None:
        self._delete_deal(deal_id, "app", None)

    def update_organization(self, org_id: int, **fields: Any) -> dict[str, Any]:
        return self._update_org(org_id, fields)

    def field_key(self, company_id: int, name: str) -> str | None:
        """The 40-hex key of the person field called `name` in that company (or None)."""
        with self._lock:
            f = self._field_by_name(company_id, name)
            return str(f["key"]) if f else None

    def option_id(self, company_id: int, field_name: str, label: str) -> int | None:
        with self._lock:
            f = self._field_by_name(company_id, field_name)
            for o in (f or {}).get("options") or []:
                if o["label"] == label:
                    return int(o["id"])
            return None

    def expire_tokens(self) -> None:
        with self._lock:
            now = time.time()
            for tok in self.access_tokens.values():
                tok.expires_at = min(tok.expires_at, now)

    def revoke_user(self, user_id: int) -> None:
        with self._lock:
            for install in self.installations.values():
                if install.user_id == user_id:
                    self._revoke_install(install)

    def set_token_lifetime(self, seconds: float | None) -> None:
        with self._lock:
            self.token_lifetime = seconds
            if seconds is not None:
                for tok in self.access_tokens.values():
                    tok.expires_at = min(tok.expires_at, tok.issued_at + seconds)

    def delete_webhook(self, webhook_id: int) -> bool:
        with self._lock:
            return self.webhooks.pop(webhook_id, None) is not None

    def ban_webhook(self, webhook_id: int) -> bool:
        with self._lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                return False
            hook["banned_until"] = time.time() + BAN_SECONDS * self.time_scale
            hook["fail_count"] = 0
            return True

    def state(self, company_id: int | None = None) -> dict[str, Any]:
        with self._lock:
            def mine(rec: dict[str, Any]) -> bool:
                return company_id is None or rec["company_id"] == company_id

            return {
                "persons": [self._person_v2(p, True) for p in self.persons.values() if mine(p)],
                "organizations": [self._org_v2(o, True) for o in self.organizations.values()
                                  if mine(o)],
                "deals": [self._deal_v2(d, True) for d in self.deals.values() if mine(d)],
                "webhooks": [self._webhook_out(w, internal=True) for w in self.webhooks.values()
                             if mine(w)],
                "deliveries": [d for d in self.deliveries if mine(d)],
                "person_fields": [self._field_v1(f) | {"company_id": f["company_id"]}
                                  for f in self.person_fields.values() if mine(f)],
                "users": [dict(u) for u in self.users.values() if mine(u)],
                "companies": list(self.companies.values()),
                "installations": [
                    {"company_id": i.company_id, "user_id": i.user_id, "active": i.active}
                    for i in self.installations.values() if mine(i.__dict__)],
                "refresh_calls": self.refresh_calls, "token_calls": self.token_calls,
                "requests": list(self.requests),
            }

    def _field_v1(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f["id"], "key": f["key"], "name": f["name"], "order_nr": f["order_nr"],
            "field_type": f["field_type"], "add_time": _v1_time(f["add_time"]),
            "update_time": _v1_time(f["update_time"]),
            "last_updated_by_user_id": f["created_by_user_id"],
            "created_by_user_id": f["created_by_user_id"], "active_flag": True,
            "edit_flag": f["edit_flag"], "index_visible_flag": True, "details_visible_flag": True,
            "add_visible_flag": True, "important_flag": False, "bulk_edit_allowed": True,
            "searchable_flag": False, "filtering_allowed": True, "sortable_flag": True,
            "mandatory_flag": False, "options": copy.deepcopy(f["options"]),
        }

    def _field_v2(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "field_name": f["name"], "field_code": f["key"], "field_type": f["field_type"],
            "is_custom_field": f["edit_flag"], "is_optional_response_field": False,
            "options": None if f["options"] is None else [
                {"id": o["id"], "label": o["label"], "color": None,
                 "add_time": _rfc3339(f["add_time"]), "update_time": _rfc3339(f["update_time"])}
                for o in f["options"]],
            "subfields": None,
            "ui_visibility": {"add_visible_flag": True, "details_visible_flag": True},
        }

    # ------------------------------------------------------------------ ASGI app

    def _build_app(self) -> Starlette:
        api = self._api
        ctl = self._ctl
        routes = [
            Route("/oauth/authorize", self._oauth_authorize, methods=["GET", "POST"]),
            Route("/oauth/token", self._oauth_token, methods=["POST"]),
            Route("/oauth/revoke", self._oauth_revoke, methods=["POST"]),
            Route("/api/v1/users/me", api(self._users_me), methods=["GET"]),
            Route("/api/v1/users", api(self._users_list), methods=["GET"]),
            Route("/api/v1/webhooks", api(self._webhooks_list), methods=["GET"]),
            Route("/api/v1/webhooks", api(self._webhooks_add), methods=["POST"]),
            Route("/api/v1/webhooks/{id:int}", api(self._webhooks_delete), methods=["DELETE"]),
            Route("/api/v1/personFields", api(self._fields_v1_list), methods=["GET"]),
            Route("/api/v1/personFields", api(self._fields_v1_add), methods=["POST"]),
            Route("/api/v2/personFields", api(self._fields_v2_list), methods=["GET"]),
            Route("/api/v2/personFields", api(self._fields_v2_add), methods=["POST"]),
            Route("/api/v2/persons", api(self._persons_list), methods=["GET"]),
            Route("/api/v2/persons", api(self._persons_add), methods=["POST"]),
            Route("/api/v2/persons/{id:int}", api(self._person_get), methods=["GET"]),
            Route("/api/v2/persons/{id:int}", api(self._person_patch), methods=["PATCH"]),
            Route("/api/v2/persons/{id:int}", api(self._person_delete), methods=["DELETE"]),
            Route("/api/v2/organizations", api(self._orgs_list), methods=["GET"]),
            Route("/api/v2/organizations/{id:int}", api(self._org_get), methods=["GET"]),
            Route("/api/v2/deals", api(self._deals_list), methods=["GET"]),
            Route("/api/v2/deals", api(self._deals_add), methods=["POST"]),
            Route("/api/v2/deals/{id:int}", api(self._deal_get), methods=["GET"]),
            Route("/api/v2/deals/{id:int}", api(self._deal_patch), methods=["PATCH"]),
            Route("/api/v2/deals/{id:int}", api(self._deal_delete), methods=["DELETE"]),
            Route("/api/v2/pipelines", api(self._pipelines), methods=["GET"]),
            Route("/api/v2/stages", api(self._stages), methods=["GET"]),
            Route("/_sim/state", ctl(self._sim_state), methods=["GET"]),
            Route("/_sim/persons", ctl(self._sim_person_add), methods=["POST"]),
            Route("/_sim/persons/{id:int}", ctl(self._sim_person_patch), methods=["PATCH"]),
            Route("/_sim/persons/{id:int}", ctl(self._sim_person_delete), methods=["DELETE"]),
            Route("/_sim/persons/{id:int}/merge", ctl(self._sim_person_merge), methods=["POST"]),
            Route("/_sim/bulk_persons", ctl(self._sim_bulk), methods=["POST"]),
            Route("/_sim/deals", ctl(self._sim_deal_add), methods=["POST"]),
            Route("/_sim/deals/{id:int}", ctl(self._sim_deal_patch), methods=["PATCH"]),
            Route("/_sim/deals/{id:int}", ctl(self._sim_deal_delete), methods=["DELETE"]),
            Route("/_sim/organizations", ctl(self._sim_org_add), methods=["POST"]),
            Route("/_sim/organizations/{id:int}", ctl(self._sim_org_patch), methods=["PATCH"]),
            Route("/_sim/faults", ctl(self._sim_faults), methods=["POST"]),
            Route("/_sim/latency", ctl(self._sim_latency), methods=["POST"]),
            Route("/_sim/down", ctl(self._sim_down), methods=["POST"]),
            Route("/_sim/reset_faults", ctl(self._sim_reset_faults), methods=["POST"]),
            Route("/_sim/expire_tokens", ctl(self._sim_expire), methods=["POST"]),
            Route("/_sim/revoke", ctl(self._sim_revoke), methods=["POST"]),
            Route("/_sim/users/{id:int}", ctl(self._sim_user_patch), methods=["PATCH"]),
            Route("/_sim/uninstall", ctl(self._sim_uninstall), methods=["POST"]),
            Route("/_sim/token_lifetime", ctl(self._sim_token_lifetime), methods=["POST"]),
            Route("/_sim/rate_limit", ctl(self._sim_rate_limit), methods=["POST"]),
            Route("/_sim/webhooks/{id:int}/delete", ctl(self._sim_hook_delete),
                  methods=["POST"]),
            Route("/_sim/webhooks/{id:int}/ban", ctl(self._sim_hook_ban), methods=["POST"]),
            Route("/_sim/idle", ctl(self._sim_idle), methods=["POST", "GET"]),
            Route("/", self._ui_index, methods=["GET"]),
            favicon_route("P", "#017737"),
            *Extensions(self, TEMPLATES).routes(),
            Route("/ui/persons", self._ui_person_add, methods=["POST"]),
            Route("/ui/persons/merge", self._ui_person_merge, methods=["POST"]),
            Route("/ui/persons/{id:int}", self._ui_person_edit, methods=["GET", "POST"]),
            Route("/ui/persons/{id:int}/delete", self._ui_person_delete, methods=["POST"]),
            Route("/ui/deals", self._ui_deal_add, methods=["POST"]),
            Route("/ui/deals/{id:int}", self._ui_deal_edit, methods=["GET", "POST"]),
            Route("/ui/deals/{id:int}/delete", self._ui_deal_delete, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        pending, self._pending_jobs = self._pending_jobs, []
        for factory in pending:
            self._spawn(factory)
        try:
            yield
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._client is not None:
                await self._client.aclose()
                self._client = None
            self._loop = None

    def _api(
        self, handler: Callable[[Request, _Auth], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            with self._lock:
                tok = self._token_auth(request.headers.get("authorization"))
            if tok is None:
                return JSONResponse({"success": False,
                                     "error": "Invalid token: access_token is invalid",
                                     "errorCode": 401}, status_code=401)
            request.scope["pd_user_id"] = tok.user_id
            allowed, headers = self._rate_check(tok.token)
            if not allowed:
                return JSONResponse({"success": False, "error": "Request over limit",
                                     "errorCode": 429}, status_code=429, headers=headers)
            try:
                response = await handler(request, _Auth(tok.token, tok.company_id, tok.user_id))
            except ApiError as exc:
                response = JSONResponse(exc.body, status_code=exc.status)
            response.headers.update(headers)
            return response

        return endpoint

    @staticmethod
    def _ctl(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return JSONResponse(exc.body, status_code=exc.status)

        return endpoint

    # ------------------------------------------------------------------ oauth routes

    async def _oauth_authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params: Any = request.query_params
        else:
            params = await request.form()
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        state = params.get("state")
        problem = self._authorize_problem(client_id, redirect_uri)
        if problem:
            return TEMPLATES.TemplateResponse(
                request, "pipedrive/oauth_error.html", {"message": problem}, status_code=400)
        assert isinstance(redirect_uri, str)
        extra = {"state": str(state)} if state else {}
        if request.method == "GET":
            with self._lock:
                users = [{**u, "company": self.companies[u["company_id"]]["name"]}
                         for u in self.users.values()]
            return TEMPLATES.TemplateResponse(request, "pipedrive/consent.html", {
                "client_id": client_id, "redirect_uri": redirect_uri, "state": state or "",
                "scopes": SCOPE_DESCRIPTIONS, "users": users,
            })
        if params.get("action") != "allow":
            return RedirectResponse(
                _with_query(redirect_uri, {"error": "user_denied", **extra}), status_code=302)
        with self._lock:
            try:
                user = self.users[int(str(params.get("user_id", "501")))]
            except (KeyError, ValueError):
                return TEMPLATES.TemplateResponse(
                    request, "pipedrive/oauth_error.html", {"message": "Unknown user."},
                    status_code=400)
            code = f"{user['company_id']}.{user['id']}.{secrets.token_hex(20)}"
            self.codes[code] = {
                "company_id": user["company_id"], "user_id": user["id"],
                "redirect_uri": redirect_uri,
                "expires_at": time.time() + CODE_TTL * self.time_scale,
            }
        return RedirectResponse(_with_query(redirect_uri, {"code": code, **extra}),
                                status_code=302)

    async def _oauth_token(self, request: Request) -> Response:
        with self._lock:
            self.token_calls += 1
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return _oauth_error(400, "Invalid request: content must be "
                                     "application/x-www-form-urlencoded", "invalid_request")
        form = await request.form()
        if not self._client_ok(request, form):
            return _oauth_error(401, "Invalid client: client is invalid", "invalid_client")
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                code = self.codes.pop(str(form.get("code") or ""), None)
                if code is None or code["expires_at"] < time.time():
                    return _oauth_error(400, "Invalid grant: authorization code is invalid",
                                        "invalid_grant")
                if form.get("redirect_uri") not in (None, code["redirect_uri"]):
                    return _oauth_error(400, "Invalid request: redirect_uri is invalid",
                                        "invalid_request")
                iid = next(self._ids["install"])
                install = _Installation(
                    iid, code["company_id"], code["user_id"],
                    f"{code['company_id']}:{code['user_id']}:{secrets.token_hex(20)}")
                self.installations[iid] = install
                return JSONResponse(self._issue_token(install))
            if grant == "refresh_token":
                self.refresh_calls += 1
                refresh = str(form.get("refresh_token") or "")
                install_or_none = next((i for i in self.installations.values()
                                        if i.refresh_token == refresh and i.active), None)
                if install_or_none is None:
                    return _oauth_error(400, "Invalid grant: refresh token is invalid",
                                        "invalid_grant")
                return JSONResponse(self._issue_token(install_or_none))
        return _oauth_error(400, "Invalid request: grant_type is invalid",
                            "unsupported_grant_type")

    async def _oauth_revoke(self, request: Request) -> Response:
        form = await request.form()
        if not self._client_ok(request, form):
            return _oauth_error(401, "Invalid client: client is invalid", "invalid_client")
        token = str(form.get("token") or "")
        with self._lock:
            for install in self.installations.values():
                if install.refresh_token == token and install.active:
                    self._revoke_install(install)
                    if not any(i.active and i.company_id == install.company_id
                               and i.user_id == install.user_id
                               for i in self.installations.values()):
                        self._uninstall_user(install.company_id, install.user_id)
            tok = self.access_tokens.get(token)
            if tok is not None:
                tok.revoked = True
        return JSONResponse({"success": True})

    # ------------------------------------------------------------------ api routes

    async def _users_me(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            user = self.users[auth.user_id]
            company = self.companies[auth.company_id]
        admin = bool(user["is_admin"])
        return JSONResponse({"success": True, "data": {
            "id": user["id"], "name": user["name"], "default_currency": "EUR",
            "locale": "en_US", "lang": 1, "email": user["email"], "phone": None,
            "activated": True, "last_login": "2026-01-01 08:00:00",
            "created": "2024-01-01 08:00:00", "modified": "2026-01-01 08:00:00",
            "has_created_company": admin,
            "access": [
                {"app": "sales", "admin": admin,
                 "permission_set_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"sales{admin}"))},
                {"app": "global", "admin": admin,
                 "permission_set_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"global{admin}"))},
            ],
            "active_flag": True, "timezone_name": "Europe/Berlin", "timezone_offset": "+01:00",
            "role_id": 1, "icon_url": None, "is_you": True, "is_deleted": False,
            "is_admin": admin, "company_id": company["id"], "company_name": company["name"],
            "company_domain": company["domain"], "company_country": "DE",
            "company_industry": None,
            "language": {"language_code": "en", "country_code": "US"},
        }})

    async def _users_list(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            users = [{"id": u["id"], "name": u["name"], "email": u["email"],
                      "is_admin": u["is_admin"], "active_flag": True,
                      "is_you": u["id"] == auth.user_id}
                     for u in self.users.values() if u["company_id"] == auth.company_id]
        return JSONResponse({"success": True, "data": users})

    async def _webhooks_list(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            hooks = [self._webhook_out(w) for w in self.webhooks.values()
                     if w["company_id"] == auth.company_id]
        return JSONResponse({"status": "ok", "success": True, "data": hooks})

    async def _webhooks_add(self, request: Request, auth: _Auth) -> Response:
        body = await _json_body(request)
        return JSONResponse({"status": "ok", "success": True,
                             "data": self._create_webhook(auth, body)}, status_code=201)

    async def _webhooks_delete(self, request: Request, auth: _Auth) -> Response:
        wid = int(request.path_params["id"])
        with self._lock:
            hook = self.webhooks.get(wid)
            if hook is None or hook["company_id"] != auth.company_id:
                return JSONResponse({"status": "error", "success": False,
                                     "errors": {"id": ["not found"]}}, status_code=404)
            del self.webhooks[wid]
        return JSONResponse({"status": "ok", "success": True, "data": {"id": wid}})

    def _require_admin(self, auth: _Auth) -> None:
        if not self.users[auth.user_id]["is_admin"]:
            raise ApiError(403, {"success": False, "error": "Forbidden", "errorCode": 403})

    async def _fields_v1_list(self, request: Request, auth: _Auth) -> Response:
        q = request.query_params
        start = _int_param(q.get("start"), "start", 0)
        limit = _int_param(q.get("limit"), "limit", 100)
        if limit < 1 or limit > MAX_LIMIT or start < 0:
            raise _err(400, "Validation failed: limit must be 1-500, start >= 0")
        with self._lock:
            fields = [self._field_v1(f) for f in self.person_fields.values()
                      if f["company_id"] == auth.company_id]
        page = fields[start:start + limit]
        more = start + limit < len(fields)
        pagination: dict[str, Any] = {"start": start, "limit": limit,
                                      "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return JSONResponse({"success": True, "data": page,
                             "additional_data": {"pagination": pagination}})

    def _add_field_checked(
        self, auth: _Auth, name: Any, field_type: Any, options: Any,
    ) -> dict[str, Any]:
        self._require_admin(auth)
        if not isinstance(name, str) or not name.strip():
            raise _err(400, "Validation failed: name: required")
        if field_type not in FIELD_TYPES:
            raise _err(400, f"Validation failed: field_type: must be one of "
                            f"{', '.join(sorted(FIELD_TYPES))}")
        labels: list[str] | None = None
        if field_type in ("enum", "set"):
            if isinstance(options, str):
                try:
                    options = json.loads(options)
                except ValueError:
                    options = None
            if not isinstance(options, list) or not options or not all(
                    isinstance(o, dict) and isinstance(o.get("label"), str) for o in options):
                raise _err(400, "Validation failed: options: required for enum and set fields, "
                                'e.g. [{"label": "New Item"}]')
            labels = [o["label"] for o in options]
        with self._lock:
            return self._add_field(auth.company_id, name.strip(), field_type, labels,
                                   user_id=auth.user_id)

    async def _fields_v1_add(self, request: Request, auth: _Auth) -> Response:
        body = await _json_body(request)
        f = self._add_field_checked(auth, body.get("name"), body.get("field_type"),
                                    body.get("options"))
        return JSONResponse({"success": True, "data": self._field_v1(f)})

    async def _fields_v2_list(self, request: Request, auth: _Auth) -> Response:
        q = request.query_params
        limit = _int_param(q.get("limit"), "limit", 100)
        if limit < 1 or limit > MAX_LIMIT:
            raise _err(400, "Validation failed: limit: must be 1-500")
        cursor = q.get("cursor")
        offset = _decode_cursor(cursor)[0] if cursor else 0
        with self._lock:
            fields = [self._field_v2(f) for f in self.person_fields.values()
                      if f["company_id"] == auth.company_id]
        page = fields[int(offset):int(offset) + limit]
        more = int(offset) + limit < len(fields)
        return JSONResponse({"success": True, "data": page, "additional_data": {
            "next_cursor": _encode_cursor([int(offset) + limit]) if more else None}})

    async def _fields_v2_add(self, request: Request, auth: _Auth) -> Response:
        body = await _json_body(request)
        f = self._add_field_checked(auth, body.get("field_name"), body.get("field_type"),
                                    body.get("options"))
        return JSONResponse({"success": True, "data": self._field_v2(f)})

    def _list(
        self, request: Request, records: Iterable[dict[str, Any]],
        render: Callable[[dict[str, Any]], dict[str, Any]],
        filters: Iterable[tuple[str, str]] = (),
    ) -> Response:
        q = request.query_params
        limit = _int_param(q.get("limit"), "limit", 100)
        if limit < 1 or limit > MAX_LIMIT:
            raise _err(400, "Validation failed: limit: Number must be less than or equal to 500"
                       if limit > MAX_LIMIT else "Validation failed: limit: must be positive")
        sort_by = q.get("sort_by", "id")
        if sort_by not in ("id", "update_time", "add_time"):
            raise _err(400, "Validation failed: sort_by: must be one of id, update_time, add_time")
        direction = q.get("sort_direction", "asc")
        if direction not in ("asc", "desc"):
            raise _err(400, "Validation failed: sort_direction: must be asc or desc")
        rows = list(records)
        if q.get("ids"):
            ids = [_int_param(x, "ids", 0) for x in q["ids"].split(",") if x.strip()]
            if len(ids) > 100:
                raise _err(400, "Validation failed: ids: at most 100 ids")
            wanted = set(ids)
            rows = [r for r in rows if r["id"] in wanted]
        for param, attr in filters:
            if q.get(param):
                values = {_int_param(x, param, 0) for x in q[param].split(",")}
                rows = [r for r in rows if r.get(attr) in values]
        if q.get("status"):
            statuses = set(q["status"].split(","))
            rows = [r for r in rows if r.get("status") in statuses]
        if q.get("updated_since"):
            since = _parse_rfc3339(q["updated_since"], "updated_since")
            rows = [r for r in rows if r["update_time"].replace(microsecond=0) >= since]
        if q.get("updated_until"):
            until = _parse_rfc3339(q["updated_until"], "updated_until")
            rows = [r for r in rows if r["update_time"].replace(microsecond=0) < until]

        def key(r: dict[str, Any]) -> tuple[int, int]:
            value = r["id"] if sort_by == "id" else int(r[sort_by].timestamp())
            return (int(value), int(r["id"]))

        desc = direction == "desc"
        rows.sort(key=key, reverse=desc)
        if q.get("cursor"):
            after = tuple(_decode_cursor(q["cursor"]))
            if len(after) != 2:
                raise _err(400, "Invalid cursor")
            rows = [r for r in rows if (key(r) < after if desc else key(r) > after)]
        page = rows[:limit]
        next_cursor = _encode_cursor(list(key(page[-1]))) if len(rows) > limit else None
        return JSONResponse({"success": True, "data": [render(r) for r in page],
                             "additional_data": {"next_cursor": next_cursor}})

    async def _persons_list(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            rows = [p for p in self.persons.values() if p["company_id"] == auth.company_id]
            return self._list(request, rows, self._person_v2,
                              [("org_id", "org_id"), ("owner_id", "owner_id")])

    async def _persons_add(self, request: Request, auth: _Auth) -> Response:
        body = await _json_body(request)
        p = self._create_person(auth.company_id, body, "api", auth.user_id, strict=True)
        p.pop("company_id")
        return JSONResponse({"success": True, "data": p})

    async def _person_get(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            p = self._get_person(int(request.path_params["id"]), auth.company_id)
            return JSONResponse({"success": True, "data": self._person_v2(p)})

    async def _person_patch(self, request: Request, auth: _Auth) -> Response:
        body = await _json_body(request)
        p = self._update_person(int(request.path_params["id"]), body, "api", auth.user_id,
                                company_id=auth.company_id, strict=True)
        p.pop("company_id")
        return JSONResponse({"success": True, "data": p})

    async def _person_delete(self, request: Request, auth: _Auth) -> Response:
        pid = int(request.path_params["id"])
        self._delete_person(pid, "api", auth.user_id, company_id=auth.company_id)
        return JSONResponse({"success": True, "data": {"id": pid}})

    async def _orgs_list(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            rows = [o for o in self.organizations.values() if o["company_id"] == auth.company_id]
            return self._list(request, rows, self._org_v2, [("owner_id", "owner_id")])

    async def _org_get(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            o = self.organizations.get(int(request.path_params["id"]))
            if o is None or o["company_id"] != auth.company_id:
                raise _err(404, "Organization not found")
            return JSONResponse({"success": True, "data": self._org_v2(o)})

    async def _deals_list(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            rows = [d for d in self.deals.values() if d["company_id"] == auth.company_id]
            return self._list(request, rows, self._deal_v2, [
                ("person_id", "person_id"), ("org_id", "org_id"), ("owner_id", "owner_id"),
                ("stage_id", "stage_id"), ("pipeline_id", "pipeline_id")])

    async def _deals_add(self, request: Request, auth: _Auth) -> Response:
        body = await _json_body(request)
        d = self._create_deal(auth.company_id, body, "api", auth.user_id, strict=True)
        d.pop("company_id")
        return JSONResponse({"success": True, "data": d})

    async def _deal_get(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            d = self._get_deal(int(request.path_params["id"]), auth.company_id)
            return JSONResponse({"success": True, "data": self._deal_v2(d)})

    async def _deal_patch(self, request: Request, auth: _Auth) -> Response:
        body = await _json_body(request)
        d = self._update_deal(int(request.path_params["id"]), body, "api", auth.user_id,
                              company_id=auth.company_id, strict=True)
        d.pop("company_id")
        return JSONResponse({"success": True, "data": d})

    async def _deal_delete(self, request: Request, auth: _Auth) -> Response:
        did = int(request.path_params["id"])
        self._delete_deal(did, "api", auth.user_id, company_id=auth.company_id)
        return JSONResponse({"success": True, "data": {"id": did}})

    async def _pipelines(self, request: Request, auth: _Auth) -> Response:
        with self._lock:
            rows = [{"id": p["id"], "name": p["name"], "order_nr": p["order_nr"],
                     "is_deleted": False, "is_deal_probability_enabled": False,
                     "add_time": None, "update_time": None}
                    for p in self.pipelines.values() if p["company_id"] == auth.company_id]
        return JSONResponse({"success": True, "data": rows,
                             "additional_data": {"next_cursor": None}})

    async def _stages(self, request: Request, auth: _Auth) -> Response:
        pipeline = request.query_params.get("pipeline_id")
        with self._lock:
            rows = [{"id": s["id"], "name": s["name"], "pipeline_id": s["pipeline_id"],
                     "order_nr": s["order_nr"], "deal_probability": 100, "is_deleted": False,
                     "is_deal_rot_enabled": False, "days_to_rotten": None}
                    for s in self.stages.values() if s["company_id"] == auth.company_id
                    and (not pipeline or str(s["pipeline_id"]) == pipeline)]
        return JSONResponse({"success": True, "data": rows,
                             "additional_data": {"next_cursor": None}})

    # ------------------------------------------------------------------ control routes

    async def _sim_state(self, request: Request) -> Response:
        cid = request.query_params.get("company_id")
        return JSONResponse(self.state(int(cid) if cid else None))

    async def _sim_person_add(self, request: Request) -> Response:
        body = await _json_body(request)
        p = self._create_person(body.get("company_id"), body, "app", body.get("user_id"),
                                strict=False)
        return JSONResponse(p, status_code=201)

    async def _sim_person_patch(self, request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(self._update_person(int(request.path_params["id"]), body, "app",
                                                body.get("user_id"), strict=False))

    async def _sim_person_delete(self, request: Request) -> Response:
        self._delete_person(int(request.path_params["id"]), "app", None)
        return JSONResponse({"success": True})

    async def _sim_person_merge(self, request: Request) -> Response:
        body = await _json_body(request)
        into = _int_param(body.get("into"), "into", 0)
        return JSONResponse(self._merge_persons(int(request.path_params["id"]), into, "app",
                                                body.get("user_id")))

    async def _sim_bulk(self, request: Request) -> Response:
        body = await _json_body(request)
        count = _int_param(body.get("count"), "count", 0)
        if count < 1 or count > 100_000:
            raise _err(400, "count must be 1..100000")
        ids = self._bulk_persons(body.get("company_id"), count,
                                 str(body.get("email_domain") or "bulk.test"),
                                 bool(body.get("fire_webhooks", False)))
        return JSONResponse({"count": len(ids), "first_id": ids[0], "last_id": ids[-1],
                             "ids": ids}, status_code=201)

    async def _sim_deal_add(self, request: Request) -> Response:
        body = await _json_body(request)
        d = self._create_deal(body.get("company_id"), body, "app", body.get("user_id"),
                              strict=False)
        return JSONResponse(d, status_code=201)

    async def _sim_deal_patch(self, request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(self._update_deal(int(request.path_params["id"]), body, "app",
                                              body.get("user_id"), strict=False))

    async def _sim_deal_delete(self, request: Request) -> Response:
        self._delete_deal(int(request.path_params["id"]), "app", None)
        return JSONResponse({"success": True})

    async def _sim_org_add(self, request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(self._create_org(body.get("company_id"), body), status_code=201)

    async def _sim_org_patch(self, request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(self._update_org(int(request.path_params["id"]), body))

    async def _sim_faults(self, request: Request) -> Response:
        self.faults.add(await _json_body(request))
        return JSONResponse({"ok": True, "scripted": len(self.faults.scripted)})

    async def _sim_latency(self, request: Request) -> Response:
        self.faults.latency_ms = float((await _json_body(request)).get("ms", 0))
        return JSONResponse({"ok": True})

    async def _sim_down(self, request: Request) -> Response:
        self.faults.down = bool((await _json_body(request)).get("down", True))
        return JSONResponse({"ok": True})

    async def _sim_reset_faults(self, request: Request) -> Response:
        self.faults.clear()
        return JSONResponse({"ok": True})

    async def _sim_expire(self, request: Request) -> Response:
        self.expire_tokens()
        return JSONResponse({"ok": True})

    async def _sim_revoke(self, request: Request) -> Response:
        body = await _json_body(request)
        self.revoke_user(_int_param(body.get("user_id"), "user_id", 0))
        return JSONResponse({"ok": True})

    async def _sim_user_patch(self, request: Request) -> Response:
        """An admin promotes or demotes a user: `{"is_admin": bool}`."""
        body = await _json_body(request)
        with self._lock:
            user = self.users.get(int(request.path_params["id"]))
            if user is None:
                raise _err(404, "User not found")
            if "is_admin" in body:
                user["is_admin"] = bool(body["is_admin"])
            return JSONResponse(dict(user))

    async def _sim_uninstall(self, request: Request) -> Response:
        """The user removes the app in Pipedrive: tokens die, webhooks go, callback gets DELETE."""
        body = await _json_body(request)
        uid = _int_param(body.get("user_id"), "user_id", 0)
        with self._lock:
            user = self.users.get(uid)
            if user is None:
                raise _err(404, "User not found")
            self.revoke_user(uid)
            self._uninstall_user(user["company_id"], uid)
            callback = self.registered_redirect_uri
        if callback:
            payload = {"client_id": self.client_id, "company_id": user["company_id"],
                       "user_id": uid, "timestamp": _rfc3339(_now())}
            cred = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            with self._lock:
                job_id = next(self._job_ids)
                self._jobs[job_id] = None

            async def send() -> None:
                try:
                    await self._http().request(
                        "DELETE", callback, json=payload, timeout=self.delivery_timeout,
                        headers={"authorization": f"Basic {cred}"})
                except httpx.HTTPError:
                    pass
                finally:
                    with self._lock:
                        self._jobs.pop(job_id, None)

            self._launch(send)
        return JSONResponse({"ok": True, "callback": callback})

    async def _sim_token_lifetime(self, request: Request) -> Response:
        seconds = (await _json_body(request)).get("seconds")
        self.set_token_lifetime(None if seconds is None else float(seconds))
        return JSONResponse({"ok": True})

    async def _sim_rate_limit(self, request: Request) -> Response:
        self.rate_limit = _int_param((await _json_body(request)).get("per_2s"), "per_2s", 80)
        return JSONResponse({"ok": True})

    async def _sim_hook_delete(self, request: Request) -> Response:
        if not self.delete_webhook(int(request.path_params["id"])):
            raise _err(404, "Webhook not found")
        return JSONResponse({"ok": True})

    async def _sim_hook_ban(self, request: Request) -> Response:
        if not self.ban_webhook(int(request.path_params["id"])):
            raise _err(404, "Webhook not found")
        return JSONResponse({"ok": True})

    async def _sim_idle(self, request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "10"))
        except ValueError:
            raise _err(400, "timeout must be a number") from None
        return JSONResponse({"idle": await self.wait_idle_async(min(timeout, 600.0))})

    # ------------------------------------------------------------------ web UI

    def _ui_company(self, request: Request, form: FormData | None = None) -> int:
        raw = (form.get("company") if form is not None else None) or request.query_params.get(
            "company") or "1001"
        try:
            cid = int(str(raw))
        except ValueError:
            cid = 1001
        return cid if cid in self.companies else 1001

    def _ui_fields(self, company_id: int) -> list[dict[str, Any]]:
        return [{**f, "options": f["options"] or []} for f in self._custom_fields(company_id)]

    def _ui_display(self, f: dict[str, Any], value: Any) -> str:
        if value is None or value == []:
            return ""
        labels = {o["id"]: o["label"] for o in f["options"] or []}
        t = f["field_type"]
        if t == "enum":
            return str(labels.get(value, value))
        if t == "set":
            return ", ".join(str(labels.get(v, v)) for v in value)
        if t == "monetary":
            return f"{value.get('value')} {value.get('currency')}"
        if isinstance(value, dict):
            return str(value.get("value", ""))
        return str(value)

    async def _ui_index(self, request: Request) -> Response:
        cid = self._ui_company(request)
        with self._lock:
            fields = self._ui_fields(cid)
            orgs = {o["id"]: o for o in self.organizations.values() if o["company_id"] == cid}
            persons = []
            for p in sorted((p for p in self.persons.values() if p["company_id"] == cid),
                            key=lambda p: p["id"], reverse=True)[:200]:
                persons.append({
                    "id": p["id"], "name": p["name"],
                    "email": ", ".join(e["value"] for e in p["emails"]),
                    "org": orgs[p["org_id"]]["name"] if p["org_id"] in orgs else "",
                    "custom": [self._ui_display(f, p["custom_fields"].get(f["key"]))
                               for f in fields],
                    "update_time": _v1_time(p["update_time"]),
                })
            person_count = sum(1 for p in self.persons.values() if p["company_id"] == cid)
            person_names = {p["id"]: p["name"] for p in self.persons.values()
                            if p["company_id"] == cid}
            stages = [s for s in self.stages.values() if s["company_id"] == cid]
            stage_names = {s["id"]: s["name"] for s in stages}
            deals = [{**self._deal_v2(d), "person": person_names.get(d["person_id"], ""),
                      "stage": stage_names.get(d["stage_id"], "")}
                     for d in self.deals.values() if d["company_id"] == cid]
            hooks = [self._webhook_out(w, internal=True) for w in self.webhooks.values()
                     if w["company_id"] == cid]
            deliveries = [d for d in self.deliveries if d["company_id"] == cid][-20:][::-1]
            ctx = {
                "companies": list(self.companies.values()), "company": self.companies[cid],
                "fields": fields, "persons": persons, "person_count": person_count,
                "person_choices": sorted(person_names.items()), "orgs": list(orgs.values()),
                "deals": deals, "stages": stages, "webhooks": hooks, "deliveries": deliveries,
                "users": [u for u in self.users.values() if u["company_id"] == cid],
                "message": request.query_params.get("msg", ""),
                "error": request.query_params.get("err", ""),
            }
        return TEMPLATES.TemplateResponse(request, "pipedrive/index.html", ctx)

    def _ui_back(self, cid: int, *, msg: str = "", err: str = "") -> Response:
        params = {"company": str(cid)}
        if msg:
            params["msg"] = msg
        if err:
            params["err"] = err
        return RedirectResponse("/?" + urlencode(params), status_code=303)

    def _ui_person_body(self, cid: int, form: FormData, creating: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"name": str(form.get("name") or "").strip(),
                                "org_id": form.get("org_id") or None}
        email = str(form.get("email") or "").strip()
        if email or not creating:
            body["email"] = email
        cf: dict[str, Any] = {}
        for f in self._custom_fields(cid):
            name = f"cf_{f['key']}"
            if f["field_type"] == "set":
                cf[f["key"]] = [str(v) for v in form.getlist(name)] or None
            else:
                raw = str(form.get(name) or "").strip()
                if f["field_type"] == "monetary" and raw:
                    cf[f["key"]] = {"value": raw, "currency": form.get(f"{name}_currency") or "EUR"}
                else:
                    cf[f["key"]] = raw or None
        if creating:
            cf = {k: v for k, v in cf.items() if v is not None}
        body["custom_fields"] = cf
        return body

    async def _ui_person_add(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            p = self._create_person(cid, self._ui_person_body(cid, form, True), "app", None,
                                    strict=False)
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg=f"Person {p['name']} added")

    async def _ui_person_edit(self, request: Request) -> Response:
        pid = int(request.path_params["id"])
        with self._lock:
            p = self.persons.get(pid)
            if p is None:
                return self._ui_back(self._ui_company(request), err="Person not found")
            cid = p["company_id"]
        if request.method == "POST":
            form = await request.form()
            try:
                self._update_person(pid, self._ui_person_body(cid, form, False), "app", None,
                                    strict=False)
            except ApiError as exc:
                return self._ui_back(cid, err=str(exc))
            return self._ui_back(cid, msg=f"Person {pid} saved")
        with self._lock:
            values = {}
            for f in self._custom_fields(cid):
                v = p["custom_fields"].get(f["key"])
                if f["field_type"] == "set":
                    values[f["key"]] = v or []
                elif isinstance(v, dict):
                    values[f["key"]] = v.get("value", "")
                    if f["field_type"] == "monetary":
                        values[f["key"] + "_currency"] = v.get("currency", "EUR")
                else:
                    values[f["key"]] = "" if v is None else v
            ctx = {
                "companies": list(self.companies.values()), "company": self.companies[cid],
                "person": self._person_v2(p),
                "email": ", ".join(e["value"] for e in p["emails"]),
                "fields": self._ui_fields(cid), "values": values,
                "orgs": [o for o in self.organizations.values() if o["company_id"] == cid],
            }
        return TEMPLATES.TemplateResponse(request, "pipedrive/person_edit.html", ctx)

    async def _ui_person_delete(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            self._delete_person(int(request.path_params["id"]), "app", None)
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg="Person deleted")

    async def _ui_person_merge(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            self._merge_persons(int(str(form.get("person_id"))), int(str(form.get("into"))),
                                "app", None)
        except (ApiError, ValueError) as exc:
            return self._ui_back(cid, err=str(exc) or "Choose two persons")
        return self._ui_back(cid, msg="Persons merged")

    @staticmethod
    def _ui_deal_body(form: FormData) -> dict[str, Any]:
        return {
            "title": str(form.get("title") or "").strip(), "value": form.get("value") or "0",
            "currency": form.get("currency") or "EUR", "person_id": form.get("person_id") or None,
            "stage_id": form.get("stage_id") or None, "status": form.get("status") or "open",
        }

    async def _ui_deal_add(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            d = self._create_deal(cid, self._ui_deal_body(form), "app", None, strict=False)
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg=f"Deal {d['title']} added")

    async def _ui_deal_edit(self, request: Request) -> Response:
        did = int(request.path_params["id"])
        with self._lock:
            d = self.deals.get(did)
            if d is None:
                return self._ui_back(self._ui_company(request), err="Deal not found")
            cid = d["company_id"]
        if request.method == "POST":
            form = await request.form()
            try:
                self._update_deal(did, self._ui_deal_body(form), "app", None, strict=False)
            except ApiError as exc:
                return self._ui_back(cid, err=str(exc))
            return self._ui_back(cid, msg=f"Deal {did} saved")
        with self._lock:
            ctx = {
                "companies": list(self.companies.values()), "company": self.companies[cid],
                "deal": self._deal_v2(d),
                "persons": sorted((p["id"], p["name"]) for p in self.persons.values()
                                  if p["company_id"] == cid),
                "stages": [s for s in self.stages.values() if s["company_id"] == cid],
            }
        return TEMPLATES.TemplateResponse(request, "pipedrive/deal_edit.html", ctx)

    async def _ui_deal_delete(self, request: Request) -> Response:
        form = await request.form()
        cid = self._ui_company(request, form)
        try:
            self._delete_deal(int(request.path_params["id"]), "app", None)
        except ApiError as exc:
            return self._ui_back(cid, err=str(exc))
        return self._ui_back(cid, msg="Deal deleted")


class _OuterApp:
    """Request log + faults around the Starlette app; the UI pages are exempt from faults."""

    def __init__(self, sim: PipedriveSim, inner: Starlette) -> None:
        self.sim = sim
        self.inner = inner
        self.faulted = FaultMiddleware(inner, sim.faults, exempt_prefixes=("/_sim/", "/ui/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        if path == "/":
            await self.inner(scope, receive, send)
            return
        if path.startswith("/v1/"):  # Pipedrive also serves v1 without the /api prefix
            path = "/api" + path
            scope = {**scope, "path": path, "raw_path": path.encode()}
        if not path.startswith(("/api/", "/oauth/")):
            await self.faulted(scope, receive, send)
            return
        status = 0

        async def logging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.faulted(scope, receive, logging_send)
        finally:
            with self.sim._lock:
                self.sim.requests.append({
                    "method": scope["method"], "path": path, "status": status,
                    "user_id": scope.get("pd_user_id") or self._user_of(scope),
                    "time": _iso_ms(_now()),
                })

    def _user_of(self, scope: Scope) -> int | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                tok = self.sim.access_tokens.get(value.decode(errors="replace")[7:].strip())
                return tok.user_id if tok else None
        return None


def _changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """v2 `previous` of a change: only the changed fields with old values (+ update_time)."""
    prev: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if key == "custom_fields" and isinstance(old, dict) and isinstance(new, dict):
            changed = {k: v for k, v in old.items() if new.get(k) != v}
            changed.update({k: None for k in new if k not in old and new[k] is not None})
            if changed:
                prev["custom_fields"] = changed
        elif old != new:
            prev[key] = old
    prev["update_time"] = before.get("update_time")
    return prev


def _oauth_error(status: int, message: str, error: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message, "error": error},
                        status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _err(400, "Invalid JSON body") from None
    if not isinstance(body, dict):
        raise _err(400, "JSON body must be an object")
    return body


def _int_param(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise _err(400, f"Validation failed: {name}: must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _err(400, f"Validation failed: {name}: must be an integer") from None


def _encode_cursor(values: list[int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        raise _err(400, "Invalid cursor") from None
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        raise _err(400, "Invalid cursor")
    return values
