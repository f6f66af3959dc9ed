"""X-Forwarded-For and X-Forwarded-Proto, believed only from the configured proxies
(Config.trusted_proxies, `TRUSTED_PROXIES`): from anyone else a client could claim any address
(and so escape a per-client limit) or any scheme. uvicorn's own middleware does the parsing;
this builds it from the running app's configuration, read at startup.

`*` trusts whatever connects (a platform router such as Heroku's, whose addresses vary), but
believes only the last X-Forwarded-For entry, the one that router appended: the entries
before it are the client's own claims (uvicorn would take the first)."""

from __future__ import annotations

from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class TrustedProxies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inner: Any = None  # uvicorn's middleware (typed with uvicorn's own ASGI types)
        self.last_hop_only = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.inner is None:
            ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
            if ctx is None:  # not started (cannot happen once the lifespan ran)
                await self.app(scope, receive, send)
                return
            self.inner = ProxyHeadersMiddleware(cast(Any, self.app), ctx.config.trusted_proxies)
            self.last_hop_only = ctx.config.trusted_proxies == "*"
        if self.last_hop_only:
            scope = last_hop_only(scope)
        await self.inner(scope, receive, send)


def last_hop_only(scope: Scope) -> Scope:
    """The scope with X-Forwarded-For reduced to its last entry."""
    values = [v for n, v in scope["headers"] if n == b"x-forwarded-for"]
    if not values:
        return scope
    last = b",".join(values).split(b",")[-1].strip()
    headers = [(n, v) for n, v in scope["headers"] if n != b"x-forwarded-for"]
    return {**scope, "headers": [*headers, (b"x-forwarded-for", last)]}
