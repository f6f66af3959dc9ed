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
from sandbox.maileon.gate import ApiGate
from sandbox.maileon.model import ApiError
from sandbox.maileon.ui import UiRoutes
from sandbox.maileon.xmlio import error_xml


class MaileonSim(UiRoutes):
    """A simulated Maileon. `app` is the ASGI app (Starlette wrapped in FaultMiddleware)."""

    def __init__(
        self, *, api_keys: dict[str, set[str]] | None = None, time_scale: float = 1.0
    ) -> None:
        super().__init__(api_keys=api_keys, time_scale=time_scale)
        self.app: ASGIApp = FaultMiddleware(self._build(), self.faults, ("/_sim/",))

    # -- app --------------------------------------------------------------------------------------

    def _build(self) -> Starlette:
        api_routes = [
            *self.contact_routes(),
            *self.synchronize_routes(),
            *self.field_routes(),
            *self.transaction_routes(),
            *self.webhook_routes(),
            *self.report_routes(),
        ]
        api = Router(routes=api_routes)
        control = [
            *self.control_routes(),
            *self.ui_routes(),
            Mount("/1.0", app=ApiGate(api, self)),
        ]

        async def on_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ApiError)
            if request.url.path.startswith("/1.0"):
                return exc.body or error_xml(exc.status, exc.message)
            return JSONResponse({"error": exc.message}, status_code=exc.status)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

        return Starlette(routes=control, lifespan=lifespan, exception_handlers={ApiError: on_error})
