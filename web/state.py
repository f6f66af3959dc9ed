"""What the lifespan put on the app: the sync context and the worker."""

from __future__ import annotations

from starlette.requests import Request

from sync.engine.context import Context
from sync.engine.worker import Worker
from web.oauth_throttle import ExchangeThrottle


def app_context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def oauth_throttle(request: Request) -> ExchangeThrottle:
    """The app's bound on code exchanges (made when first needed)."""
    state = request.app.state
    if not hasattr(state, "oauth_throttle"):
        config = app_context(request).config
        state.oauth_throttle = ExchangeThrottle(
            config.oauth_exchanges_per_client, config.oauth_exchanges_per_minute
        )
    throttle: ExchangeThrottle = state.oauth_throttle
    return throttle


def app_worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    return worker
