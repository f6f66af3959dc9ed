"""The ASGI app: routes, middleware, and a lifespan that opens the store and runs the worker.

`app` is importable without configuration; the configuration is read and checked at startup.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from appconfig import Config, from_env
from clients.http import new_http_client
from store import instance, keycheck, queue
from store.checkpoints import Checkpointer
from store.crypto import SecretBox
from store.db import Store
from sync.engine import handlers, schedule
from sync.engine.context import Context
from sync.engine.worker import Worker
from web import engagement, health, imports, oauth, panel, rules, settings, webhooks
from web.errors import HTTPProblem, render_problem
from web.limits import BodyLimit
from web.logs import configure as configure_logging
from web.logs import new_request_id, request_id
from web.proxies import TrustedProxies
from web.security_headers import response_headers
from web.shortcut import Shortcut
from web.templating import STATIC_DIR, templates

log = logging.getLogger("pipedrive_maileon.app")
access = logging.getLogger("pipedrive_maileon.access")


async def index(request: Request) -> Response:
    return templates.TemplateResponse(request, "index.html", {})


async def favicon(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


WEBHOOK_PATH = "/webhooks/pipedrive"
routes = [
    # The webhook receivers first: they take most requests, and routes match in order.
    # (a POST to it goes past the router: web/shortcut.py; here for any other method's 405)
    Route(WEBHOOK_PATH, webhooks.pipedrive, methods=["POST"]),
    Route("/webhooks/maileon/{company_id}/{event}", webhooks.maileon, methods=["POST"]),
    Route("/", index),
    Route("/favicon.ico", favicon),
    Route("/oauth/install", oauth.install),
    Route("/oauth/callback", oauth.callback, methods=["GET"]),
    Route("/oauth/callback", oauth.uninstall, methods=["DELETE"]),
    Route("/oauth/callback", oauth.callback_post, methods=["POST"]),
    Route("/settings", settings.settings_page, methods=["GET"]),
    Route("/settings", settings.save_settings, methods=["POST"]),
    Route("/settings/health", settings.health_partial, methods=["GET"]),
    Route("/settings/retry", settings.retry, methods=["POST"]),
    Route("/settings/try-now", settings.try_now, methods=["POST"]),
    Route("/settings/import", imports.import_card, methods=["GET"]),
    Route("/settings/import/start", imports.import_start, methods=["POST"]),
    Route("/settings/import/cancel", imports.import_cancel, methods=["POST"]),
    Route("/settings/import/resume", imports.import_resume, methods=["POST"]),
    Route("/settings/rules", rules.rules_card, methods=["GET"]),
    Route("/settings/rules/preview", rules.rules_preview, methods=["POST"]),
    Route("/settings/rules/apply", rules.rules_apply, methods=["POST"]),
    Route("/settings/rules/cancel", rules.rules_cancel, methods=["POST"]),
    Route("/settings/rules/resume", rules.rules_resume, methods=["POST"]),
    Route("/panel", panel.panel, methods=["GET"]),
    Route("/panel/status", panel.panel_status, methods=["GET"]),
    Route("/panel/subscribe", panel.panel_subscribe, methods=["POST"]),
    Route("/panel/unsubscribe", panel.panel_unsubscribe, methods=["POST"]),
    Route("/panel/engagement", engagement.panel_engagement, methods=["GET"]),
    Route("/settings/engagement", engagement.engagement_card, methods=["GET"]),
    Route("/settings/engagement", engagement.engagement_save, methods=["POST"]),
    Route("/healthz", health.healthz),
    Mount("/static", StaticFiles(directory=str(STATIC_DIR), check_dir=False), name="static"),
]


class RequestContext:
    """Request id, security headers, and a plain 500 that never shows a stack trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        token = request_id.set(rid)
        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_headers(message: Any) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", rid.encode()))
                response_headers(scope, headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = JSONResponse(
                    {"error": "internal error", "request_id": rid}, status_code=500
                )
                await response(scope, receive, send_with_headers)
        finally:
            path = scope.get("path", "")
            # An accepted webhook is recorded in the events table already; its line is DEBUG
            # (the intake's hot path). Everything else, and every refused webhook, is INFO.
            level = (
                logging.DEBUG if status < 400 and path.startswith("/webhooks/") else logging.INFO
            )
            if access.isEnabledFor(level):
                # The path only: query strings can carry tokens (JWT, Maileon webhook token).
                access.log(
                    level,
                    "%s %s %s",
                    scope.get("method"),
                    path,
                    status,
                    extra={
                        "fields": {
                            "method": scope.get("method"),
                            "path": path,
                            "status": status,
                            "ms": round((time.perf_counter() - began) * 1000, 1),
                        }
                    },
                )
            request_id.reset(token)


def _worker_ended(task: asyncio.Task[None]) -> None:
    """The worker's supervisor ends only at a stop; should it ever end otherwise, say so."""
    if not task.cancelled() and task.exception() is not None:
        log.critical(
            "the worker stopped: no change is applied until a restart", exc_info=task.exception()
        )


def create_app(config: Config | None = None) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        cfg = config or from_env()
        configure_logging(cfg.log_json)
        # Before anything touches the queue: a process started beside a live one (by whatever
        # path to the same file) stops here instead of taking over its leases.
        instance.hold(cfg.database_path)
        store = Store(cfg.database_path, SecretBox(cfg.encryption_keys))
        keycheck.ensure(store)  # `serve` said so in one line already; this guards every host
        http = new_http_client(cfg.http_timeout)
        ctx = Context.create(cfg, store, http)
        worker = Worker(ctx, handlers.HANDLERS)
        app.state.ctx = ctx
        app.state.worker = worker
        queue.release_leases(store)
        schedule.ensure_periodic(store, cfg.periodic_scale)
        checkpoints = Checkpointer(store)
        checkpoints.start()
        gc.freeze()  # what startup built is never garbage: keep it out of every collection
        task = asyncio.create_task(worker.supervisor.run())
        task.add_done_callback(_worker_ended)
        try:
            yield
        finally:
            await worker.stop()
            task.cancel()
            await http.aclose()
            checkpoints.stop()
            store.close()
            instance.release(cfg.database_path)

    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPProblem: render_problem}
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(TrustedProxies)
    app.add_middleware(Shortcut, method="POST", path=WEBHOOK_PATH, endpoint=webhooks.pipedrive)
    app.add_middleware(RequestContext)
    return app


app = create_app()
