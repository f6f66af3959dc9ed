"""`MaileonSim`: the simulator's facade; it assembles the routes into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp

from sandbox.faults import FaultMiddleware
from sandbox.favicon import favicon_route
from sandbox.maileon.gate import ApiGate
from sandbox.maileon.model import ApiError
from sandbox.maileon.ui import UiRoutes
from sandbox.maileon.xmlio import error_xml


class MaileonSim(UiRoutes):
    """A simulated Maileon. `app` is the ASGI app (Starlette wrapped in FaultMiddleware)."""

    def __init__(self, *, api_keys: dict[str, set[str]] | None = None,
                 time_scale: float = 1.0) -> None:
        super().__init__(api_keys=api_keys, time_scale=time_scale)
        self.app: ASGIApp = FaultMiddleware(self._build(), self.faults, ("/_sim/",))

    # -- app --------------------------------------------------------------------------------------

    def _build(self) -> Starlette:
        api_routes = [
            Route("/ping", self.ping, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/contacts", self.list_contacts, methods=["GET"]),
            Route("/contacts", self.synchronize, methods=["POST"]),
            Route("/contacts/count", self.count_contacts, methods=["GET"]),
            Route("/contacts/fields/custom", self.list_custom_fields, methods=["GET"]),
            Route("/contacts/fields/custom/{name}", self.create_custom_field, methods=["POST"]),
            Route("/contacts/fields/custom/{name}", self.delete_custom_field, methods=["DELETE"]),
            Route("/contacts/fields/custom/{old}/{new}", self.rename_custom_field,
                  methods=["PUT"]),
            Route("/contacts/email/{email}/unsubscribe", self.unsubscribe_by_email,
                  methods=["DELETE"]),
            Route("/contacts/email/{email}", self.get_contact, methods=["GET"]),
            Route("/contacts/email/{email}", self.create_contact, methods=["POST"]),
            Route("/contacts/email/{email}", self.update_contact, methods=["PUT"]),
            Route("/contacts/email/{email}", self.delete_by_email, methods=["DELETE"]),
            Route("/contacts/emails/{email}", self.get_contacts_by_email, methods=["GET"]),
            Route("/contacts/externalid/{external_id}/unsubscribe",
                  self.unsubscribe_by_external_id, methods=["DELETE"]),
            Route("/contacts/externalid/{external_id}", self.get_contacts_by_external_id,
                  methods=["GET"]),
            Route("/contacts/externalid/{external_id}", self.delete_by_external_id,
                  methods=["DELETE"]),
            Route("/contacts/contact", self.get_contact_by_id, methods=["GET"]),
            Route("/contacts/contact", self.delete_by_id, methods=["DELETE"]),
            Route("/transactions/types", self.list_types, methods=["GET"]),
            Route("/transactions/types", self.create_type, methods=["POST"]),
            Route("/transactions/types/count", self.count_types, methods=["GET"]),
            Route("/transactions/types/{ref}", self.get_type, methods=["GET"]),
            Route("/transactions/types/{ref}", self.delete_type, methods=["DELETE"]),
            Route("/transactions", self.recent_transactions, methods=["GET"]),
            Route("/transactions", self.create_transactions, methods=["POST"]),
            Route("/webhooks", self.list_webhooks, methods=["GET"]),
            Route("/webhooks", self.create_webhook, methods=["POST"]),
            Route("/webhooks/{webhook_id}", self.get_webhook, methods=["GET"]),
            Route("/webhooks/{webhook_id}", self.update_webhook, methods=["PUT"]),
            Route("/webhooks/{webhook_id}", self.delete_webhook, methods=["DELETE"]),
            Route("/mailings/filter/types", self.mailings_by_type, methods=["GET"]),
            Route("/mailings/{mailing_id}/settings/doi_key", self.mailing_doi_key,
                  methods=["GET"]),
            Route("/reports/unsubscriptions", self.unsubscriptions_report, methods=["GET"]),
            Route("/reports/unsubscriptions/count", self.unsubscriptions_count,
                  methods=["GET"]),
        ]
        api = Router(routes=api_routes)
        control = [
            Route("/_sim/state", self.sim_state, methods=["GET"]),
            Route("/_sim/accounts", self.sim_accounts, methods=["GET"]),
            Route("/_sim/keys", self.sim_add_key, methods=["POST"]),
            Route("/_sim/keys/revoke", self.sim_revoke_key, methods=["POST"]),
            Route("/_sim/contacts", self.sim_add_contact, methods=["POST"]),
            Route("/_sim/contacts/confirm_doi", self.sim_confirm_doi, methods=["POST"]),
            Route("/_sim/contacts/unsubscribe", self.sim_unsubscribe, methods=["POST"]),
            Route("/_sim/doi_keys", self.sim_doi_key, methods=["POST"]),
            Route("/_sim/faults", self.sim_faults, methods=["POST"]),
            Route("/_sim/latency", self.sim_latency, methods=["POST"]),
            Route("/_sim/down", self.sim_down, methods=["POST"]),
            Route("/_sim/reset_faults", self.sim_reset_faults, methods=["POST"]),
            Route("/_sim/reset", self.sim_reset, methods=["POST"]),
            Route("/_sim/idle", self.sim_idle, methods=["POST", "GET"]),
            Route("/", self.ui_index, methods=["GET"]),
            favicon_route("M", "#1e5bb8"),
            Route("/ui/{action}", self.ui_action, methods=["POST"]),
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

        return Starlette(routes=control, lifespan=lifespan,
                         exception_handlers={ApiError: on_error})
