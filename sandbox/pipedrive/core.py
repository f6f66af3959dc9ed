"""The simulator's in-memory state: companies, users, fields, records; seeding."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.templating import Jinja2Templates

from sandbox.faults import Faults
from sandbox.pipedrive.helpers import fail, make_field_key, utcnow
from sandbox.pipedrive.model import (
    CODE_TTL,
    DELIVERY_TIMEOUT,
    DEMO_DEAL_FIELDS,
    DEMO_FIELDS,
    PERSON_LABELS,
    STANDARD_PERSON_FIELDS,
    AccessToken,
    Installation,
)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))


class SimCore:
    """What every part of the simulator shares: settings, locks, tasks and the in-memory data."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        time_scale: float = 1.0,
        app_name: str = "Maileon for Pipedrive",
    ) -> None:
        self.client_id = client_id
        self.app_name = app_name  # as listed in the Developer Hub: what the consent screen shows
        self.client_secret = client_secret
        self.time_scale = time_scale
        self.base_url = "http://127.0.0.1"
        self.faults = Faults()
        self.rate_limit = 80
        self.token_lifetime: float | None = None
        self.delivery_timeout = max(DELIVERY_TIMEOUT * time_scale, 1.0)
        # an authorization code's lifetime, scaled like the rest (its expiry is tested); a
        # harness whose installs go through a busy app process may give it real seconds
        self.code_ttl = CODE_TTL * time_scale
        self.registered_redirect_uri: str | None = None
        # The app's base URL for its custom UI (panel, settings) and the JWT secret "Pipedrive"
        # signs those iframes' tokens with (default: the client secret); see extensions.py.
        self.app_url: str | None = None
        self.jwt_secret: str | None = None
        self.lock = threading.RLock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.pending_jobs: list[Callable[[], Awaitable[None]]] = []
        self.jobs: dict[int, float | None] = {}
        self.job_ids = itertools.count(1)
        self._seed()

    # ------------------------------------------------------------------ state and seeding

    def _seed(self) -> None:
        self._ids: dict[str, itertools.count[int]] = {
            name: itertools.count(1)
            for name in (
                "person",
                "organization",
                "deal",
                "webhook",
                "field",
                "option",
                "pipeline",
                "stage",
                "install",
                "bulk",
                "label",
                "deal_field",
            )
        }
        self._ids["option"] = itertools.count(11)
        self._ids["deal_option"] = itertools.count(701)  # apart: the person fields' ids stay
        self.companies: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.persons: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, dict[str, Any]] = {}  # sandbox/pipedrive/notes.py
        self.deals: dict[int, dict[str, Any]] = {}
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.stages: dict[int, dict[str, Any]] = {}
        self.person_fields: dict[int, dict[str, Any]] = {}
        self.deal_fields: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=20000)
        self.requests: deque[dict[str, Any]] = deque(maxlen=20000)
        self.codes: dict[str, dict[str, Any]] = {}
        self.installations: dict[int, Installation] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_calls = 0
        self.token_calls = 0
        self.rate: dict[str, deque[float]] = {}
        for cid, name, domain, users, orgs in (
            (
                1001,
                "Acme Sales",
                "acme",
                [
                    (501, "Ada Admin", "ada@acme.test", True),
                    (502, "Sam Sales", "sam@acme.test", False),
                ],
                ["Acme Corp", "Initech"],
            ),
            (
                2002,
                "Globex",
                "globex",
                [(601, "Gina Globex", "gina@globex.test", True)],
                ["Globex Corporation", "Hooli"],
            ),
        ):
            self.add_company(cid, name, domain, users, orgs, labels=False)
        for cid in self.companies:  # labels after all fields: the seeded ids stay as they were
            self._add_labels(cid)
            self._add_deal_fields(cid)

    def add_company(
        self,
        cid: int,
        name: str,
        domain: str,
        users: list[tuple[int, str, str, bool]],
        orgs: list[str],
        labels: bool = True,
    ) -> None:
        """A company with its users (id, name, email, admin), organizations, one pipeline, the
        standard and demo person fields, the person labels and the demo deal fields."""
        now = utcnow()
        self.companies[cid] = {"id": cid, "name": name, "domain": domain}
        for uid, uname, email, admin in users:
            self.users[uid] = {
                "id": uid,
                "name": uname,
                "email": email,
                "company_id": cid,
                "is_admin": admin,
            }
        admin_id = users[0][0]
        for org_name in orgs:
            oid = next(self._ids["organization"])
            self.organizations[oid] = {
                "id": oid,
                "company_id": cid,
                "name": org_name,
                "owner_id": admin_id,
                "add_time": now,
                "update_time": now,
                "address": None,
                "visible_to": 3,
                "label_ids": [],
                "custom_fields": {},
            }
        pid = next(self._ids["pipeline"])
        self.pipelines[pid] = {"id": pid, "company_id": cid, "name": "Sales", "order_nr": 1}
        for order, stage_name in enumerate(("Qualified", "Proposal", "Won-ready"), start=1):
            sid = next(self._ids["stage"])
            self.stages[sid] = {
                "id": sid,
                "company_id": cid,
                "name": stage_name,
                "pipeline_id": pid,
                "order_nr": order,
            }
        for key, fname, ftype in STANDARD_PERSON_FIELDS:
            self.add_field(cid, fname, ftype, None, key=key, user_id=admin_id)
        for fname, ftype, options in DEMO_FIELDS:
            self.add_field(cid, fname, ftype, options, user_id=admin_id)
        if labels:
            self._add_labels(cid)
            self._add_deal_fields(cid)

    def _add_labels(self, cid: int) -> None:
        """Person labels: a standard field with its own option ids."""
        field = self.add_field(cid, "Labels", "set", None, key="label_ids")
        field["options"] = [
            {"id": next(self._ids["label"]), "label": label} for label in PERSON_LABELS
        ]

    def _add_deal_fields(self, cid: int) -> None:
        admin_id = self.admin_of(cid)
        for fname, ftype, options in DEMO_DEAL_FIELDS:
            self.add_field(cid, fname, ftype, options, user_id=admin_id, entity="deal")

    def fields_of(self, entity: str) -> dict[int, dict[str, Any]]:
        """The field definitions of persons or deals (each kind has its own list and ids)."""
        return self.deal_fields if entity == "deal" else self.person_fields

    def add_field(
        self,
        company_id: int,
        name: str,
        field_type: str,
        options: list[str] | None,
        *,
        key: str | None = None,
        user_id: int | None = None,
        entity: str = "person",
    ) -> dict[str, Any]:
        deal = entity == "deal"
        fid = next(self._ids["deal_field" if deal else "field"])
        now = utcnow()
        custom = key is None
        opts = None
        if field_type in ("enum", "set"):
            counter = self._ids["deal_option" if deal else "option"]
            opts = [{"id": next(counter), "label": label} for label in options or []]
        table = self.fields_of(entity)
        record = {
            "id": fid,
            "company_id": company_id,
            "key": key or make_field_key(company_id, fid, f"deal:{name}" if deal else name),
            "name": name,
            "field_type": field_type,
            "options": opts,
            "edit_flag": custom,
            "add_time": now,
            "update_time": now,
            "created_by_user_id": user_id,
            "order_nr": len([f for f in table.values() if f["company_id"] == company_id]) + 1,
        }
        table[fid] = record
        return record

    def custom_fields(self, company_id: int, entity: str = "person") -> list[dict[str, Any]]:
        return [
            f
            for f in self.fields_of(entity).values()
            if f["company_id"] == company_id and f["edit_flag"]
        ]

    def field_by_name(
        self, company_id: int, name: str, entity: str = "person"
    ) -> dict[str, Any] | None:
        for f in self.fields_of(entity).values():
            if f["company_id"] == company_id and f["name"] == name:
                return f
        return None

    def _key(self, company_id: int, name: str) -> str:
        f = self.field_by_name(company_id, name)
        if f is None:
            raise KeyError(name)
        return str(f["key"])

    def admin_of(self, company_id: int) -> int:
        for u in self.users.values():
            if u["company_id"] == company_id and u["is_admin"]:
                return int(u["id"])
        raise KeyError(company_id)

    def _company(self, company_id: Any) -> int:
        try:
            cid = int(company_id)
        except (TypeError, ValueError):
            raise fail(400, "company_id is required") from None
        if cid not in self.companies:
            raise fail(404, "Company not found")
        return cid

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url
