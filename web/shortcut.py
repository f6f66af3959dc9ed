"""One route straight to its endpoint, past the middlewares it does not need.

POST /webhooks/pipedrive takes nearly every request the app gets (one per change in Pipedrive).
The proxy headers, exception middleware and router between RequestContext and its endpoint cost
it about an eighth of its own CPU (63 against 55 us per request, docs/performance.md). Through
here it keeps what every route gets: the request id, the security headers, the access log and
the plain 500 (RequestContext, outside this), the body limit, and its refusals rendered by the
app's one HTTPProblem handler (the endpoint calls it). It skips the proxy headers (a webhook's
answer depends on no client address or scheme), the exception middleware and the router.
Any other request, the same path with another method or under a root path included, goes the
usual way.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from web.limits import BodyLimit


class Shortcut:
    def __init__(self, app: ASGIApp, method: str, path: str, endpoint: ASGIApp) -> None:
        self.app = app
        self.method = method
        self.path = path
        self.endpoint = BodyLimit(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == self.path
            and scope["method"] == self.method
        ):
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)
