"""`PipedriveSim`: the simulator's facade; it assembles the routes into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.extensions import Extensions
from sandbox.faults import FaultMiddleware
from sandbox.favicon import favicon_route
from sandbox.pipedrive.core import TEMPLATES
from sandbox.pipedrive.helpers import _iso_ms, _now
from sandbox.pipedrive.ui import UiRoutes


class PipedriveSim(UiRoutes):
    """In-memory Pipedrive with real HTTP behaviour; see the package docstring."""

    def __init__(
        self, *, client_id: str, client_secret: str, time_scale: float = 1.0,
        seed_demo: bool = True,
    ) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, time_scale=time_scale)
        if seed_demo:
            self._seed_demo()
        self.app: ASGIApp = _OuterApp(self, self._build_app())

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
