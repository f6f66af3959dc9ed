"""The intake baseline: a bare Starlette app whose POST /webhooks/pipedrive answers 200 with a
small JSON body and does nothing else (no middleware, no auth, no parsing, no storage).

Served by the same uvicorn, with the same options and one worker process, as the app; like the
app, it moves what startup built out of the garbage collector's way (`gc.freeze()`)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def ok(request: Request) -> Response:
    return JSONResponse({"ok": True, "duplicate": False})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "queue_depth": 0})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    gc.freeze()
    yield


app = Starlette(
    routes=[Route("/webhooks/pipedrive", ok, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)
