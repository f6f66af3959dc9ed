"""`PipedriveSim`: the simulator's facade; it assembles the routes into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.faults import FaultMiddleware
from sandbox.pipedrive.helpers import iso_ms, utcnow
from sandbox.pipedrive.ui import UiRoutes


class PipedriveSim(UiRoutes):
    """In-memory Pipedrive with real HTTP behaviour; see the package docstring."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        time_scale: float = 1.0,
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
            (
                1001,
                {
                    "name": "Alice Example",
                    "email": "alice@example.com",
                    "org_id": acme_orgs[0],
                    "custom_fields": {
                        self._key(1001, "Tier"): opt["Gold"],
                        self._key(1001, "Interests"): [opt["News"], opt["Events"]],
                    },
                },
            ),
            (
                1001,
                {
                    "name": "Bob Builder",
                    "email": "bob@example.com",
                    "org_id": acme_orgs[1],
                    "custom_fields": {self._key(1001, "Score"): 42},
                },
            ),
            (1001, {"name": "Carol Customer", "email": "carol@example.com"}),
            (2002, {"name": "Dave Globex", "email": "dave@globex.test"}),
        ]
        ids = [
            self._create_person(cid, body, "app", None, strict=False, fire=False)["id"]
            for cid, body in people
        ]
        self._create_deal(
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
            *self._oauth_routes(),
            *self._api_routes(),
            *self._control_routes(),
            *self._ui_routes(),
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
                self.sim.requests.append(
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
                tok = self.sim.access_tokens.get(value.decode(errors="replace")[7:].strip())
                return tok.user_id if tok else None
        return None
