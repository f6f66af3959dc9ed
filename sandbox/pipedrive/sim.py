"""`PipedriveSim`: the simulator's facade; it assembles the routes into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.faults import FaultMiddleware, Faults
from sandbox.pipedrive.api import ApiRoutes
from sandbox.pipedrive.control import ControlRoutes
from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.deals import DealsAndOrgs
from sandbox.pipedrive.delivery import Delivery
from sandbox.pipedrive.gate import Gate
from sandbox.pipedrive.helpers import iso_ms, utcnow
from sandbox.pipedrive.notes import Notes
from sandbox.pipedrive.oauth import OAuth
from sandbox.pipedrive.persons import Persons
from sandbox.pipedrive.public import PythonApi
from sandbox.pipedrive.records import Changes
from sandbox.pipedrive.representations import Representations
from sandbox.pipedrive.ui import UiRoutes
from sandbox.pipedrive.validation import Validation
from sandbox.pipedrive.webhooks import WebhookAdmin


class PipedriveSim(PythonApi):
    """In-memory Pipedrive with real HTTP behaviour; see the package docstring.

    `core` is the shared state; every other part is one object (a resource and its routes, the
    webhook delivery, OAuth, the API gate) that gets the parts it uses when it is made. The
    Python API for tests (`create_person`, `field_key`, ...) is this object's own.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        time_scale: float = 1.0,
        seed_demo: bool = True,
    ) -> None:
        self.core = core = SimCore(
            client_id=client_id, client_secret=client_secret, time_scale=time_scale
        )
        rep = Representations(core)
        check = Validation(core)
        self.delivery = Delivery(core=core, rep=rep)
        hooks = WebhookAdmin(check=check, core=core)
        changes = Changes(core=core, delivery=self.delivery, rep=rep)
        people = Persons(check=check, core=core, delivery=self.delivery, changes=changes, rep=rep)
        orgs_deals = DealsAndOrgs(
            check=check, core=core, delivery=self.delivery, changes=changes, rep=rep
        )
        self.oauth = OAuth(core=core, hooks=hooks)
        gate = Gate(core=core, oauth=self.oauth)
        super().__init__(
            core=core, hooks=hooks, oauth=self.oauth, orgs_deals=orgs_deals, people=people, rep=rep
        )
        self.api = ApiRoutes(
            core=core,
            gate=gate,
            hooks=hooks,
            orgs_deals=orgs_deals,
            people=people,
            pyapi=self,
            rep=rep,
        )
        self.control = ControlRoutes(
            core=core,
            delivery=self.delivery,
            gate=gate,
            hooks=hooks,
            orgs_deals=orgs_deals,
            people=people,
            pyapi=self,
        )
        self.notes = Notes(core, gate)
        self.ui = UiRoutes(core=core, hooks=hooks, orgs_deals=orgs_deals, people=people, rep=rep)
        if seed_demo:
            self._seed_demo()
        self.app: ASGIApp = _OuterApp(self, self._build_app())

    # The state tests and the demo read directly.
    @property
    def faults(self) -> Faults:
        return self.core.faults

    @property
    def base_url(self) -> str:
        return self.core.base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self.core.base_url = url

    @property
    def app_url(self) -> str | None:
        return self.core.app_url

    @app_url.setter
    def app_url(self, url: str | None) -> None:
        self.core.app_url = url

    def _add_field(
        self, company_id: int, name: str, field_type: str, options: list[str] | None
    ) -> dict[str, Any]:
        """A person custom field as if the customer had created it in Pipedrive."""
        return self.core.add_field(company_id, name, field_type, options)

    @property
    def persons(self) -> dict[int, dict[str, Any]]:
        return self.core.persons

    @property
    def webhooks(self) -> dict[int, dict[str, Any]]:
        return self.core.webhooks

    def _seed_demo(self) -> None:
        tier = self.core.field_by_name(1001, "Tier")
        interests = self.core.field_by_name(1001, "Interests")
        assert tier and interests
        opt = {o["label"]: o["id"] for o in tier["options"] + interests["options"]}
        acme_orgs = [o["id"] for o in self.core.organizations.values() if o["company_id"] == 1001]
        people: list[tuple[int, dict[str, Any]]] = [
            (
                1001,
                {
                    "name": "Alice Example",
                    "email": "alice@example.com",
                    "org_id": acme_orgs[0],
                    "custom_fields": {
                        self.core._key(1001, "Tier"): opt["Gold"],
                        self.core._key(1001, "Interests"): [opt["News"], opt["Events"]],
                    },
                },
            ),
            (
                1001,
                {
                    "name": "Bob Builder",
                    "email": "bob@example.com",
                    "org_id": acme_orgs[1],
                    "custom_fields": {self.core._key(1001, "Score"): 42},
                },
            ),
            (1001, {"name": "Carol Customer", "email": "carol@example.com"}),
            (2002, {"name": "Dave Globex", "email": "dave@globex.test"}),
        ]
        ids = [
            self.people.records.create(cid, body, "app", None, strict=False, fire=False)["id"]
            for cid, body in people
        ]
        self.orgs_deals.records.create(
            1001,
            {
                "title": "Website redesign",
                "value": 5000,
                "currency": "EUR",
                "person_id": ids[0],
                "org_id": acme_orgs[0],
            },
            "app",
            None,
            strict=False,
            fire=False,
        )

    # ------------------------------------------------------------------ ASGI app

    def _build_app(self) -> Starlette:
        routes = [
            *self.oauth.routes(),
            *self.api.routes(),
            *self.notes.routes(),
            *self.control.routes(),
            *self.ui.routes(),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.core.loop = asyncio.get_running_loop()
        pending, self.core.pending_jobs = self.core.pending_jobs, []
        for factory in pending:
            self.delivery.spawn(factory)
        try:
            yield
        finally:
            for task in list(self.core.tasks):
                task.cancel()
            if self.core.tasks:
                await asyncio.gather(*self.core.tasks, return_exceptions=True)
            if self.core.client is not None:
                await self.core.client.aclose()
                self.core.client = None
            self.core.loop = None


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
            with self.sim.core.lock:
                self.sim.core.requests.append(
                    {
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "user_id": scope.get("pd_user_id") or self._user_of(scope),
                        "time": iso_ms(utcnow()),
                    }
                )

    def _user_of(self, scope: Scope) -> int | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                tok = self.sim.core.access_tokens.get(value.decode(errors="replace")[7:].strip())
                return tok.user_id if tok else None
        return None
