"""What the lifespan put on the app: the sync context and the worker."""

from __future__ import annotations

from starlette.requests import Request

from sync.context import Context
from sync.worker import Worker


def app_context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def app_worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    return worker
