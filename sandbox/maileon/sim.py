"""`MaileonSim`: the simulator's facade; it assembles the routes into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Router
from starlette.types import ASGIApp

from sandbox.faults import FaultMiddleware
from sandbox.maileon.contacts import ContactRoutes
from sandbox.maileon.control import ControlRoutes
from sandbox.maileon.core import SimCore
from sandbox.maileon.fields import FieldRoutes
from sandbox.maileon.gate import ApiGate
from sandbox.maileon.mailings import MailingRoutes
from sandbox.maileon.model import ApiError
from sandbox.maileon.reports import ReportRoutes
from sandbox.maileon.synchronize import SynchronizeRoutes
from sandbox.maileon.transactions import TransactionRoutes
from sandbox.maileon.ui import UiRoutes
from sandbox.maileon.webhooks import WebhookRoutes
from sandbox.maileon.xmlio import error_xml


class MaileonSim:
    """A simulated Maileon. `app` is the ASGI app (Starlette wrapped in FaultMiddleware).

    `core` is the shared state; every other part is one resource that returns its routes.
    """

    def __init__(
        self, *, api_keys: dict[str, set[str]] | None = None, time_scale: float = 1.0
    ) -> None:
        self.core = core = SimCore(api_keys=api_keys, time_scale=time_scale)
        self.faults = core.faults
        self.webhooks = WebhookRoutes(core)
        self.contacts = ContactRoutes(core, self.webhooks)
        self.synchronize = SynchronizeRoutes(self.contacts, core)
        self.fields = FieldRoutes()
        self.transactions = TransactionRoutes(self.contacts, core)
        self.reports = ReportRoutes(core)
        self.mailings = MailingRoutes(self.contacts, self.webhooks, core)
        self.control = ControlRoutes(self.contacts, core)
        self.ui = UiRoutes(self.contacts, self.control, core)
        self.app: ASGIApp = FaultMiddleware(self._build(), self.faults, ("/_sim/",))

    # -- app --------------------------------------------------------------------------------------

    def _build(self) -> Starlette:
        api_routes = [
            *self.contacts.routes(),
            *self.synchronize.routes(),
            *self.fields.routes(),
            *self.transactions.routes(),
            *self.webhooks.routes(),
            *self.reports.routes(),
            *self.mailings.routes(),
        ]
        api = Router(routes=api_routes)
        control = [
            *self.control.routes(),
            *self.ui.routes(),
            *self.mailings.control_routes(),
            Mount("/1.0", app=ApiGate(api, self.core)),
        ]

        async def on_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ApiError)
            if request.url.path.startswith("/1.0"):
                return exc.body or error_xml(exc.status, exc.message)
            return JSONResponse({"error": exc.message}, status_code=exc.status)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            for task in list(self.core.tasks):
                task.cancel()
            if self.core.tasks:
                await asyncio.gather(*self.core.tasks, return_exceptions=True)
            if self.core.client is not None:
                await self.core.client.aclose()
                self.core.client = None

        return Starlette(routes=control, lifespan=lifespan, exception_handlers={ApiError: on_error})
