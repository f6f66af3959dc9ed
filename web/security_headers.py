"""Content-Security-Policy on HTML pages (pure ASGI: no per-request task or body buffering).

Only the settings and the panel may be framed, and only by Pipedrive (Config.frame_ancestors;
the sandbox and the tests name their own simulated host); every other page by nobody.
`X-Content-Type-Options` and `Referrer-Policy` are set on all responses by
web.app.RequestContext.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appconfig import PIPEDRIVE_ORIGINS

FRAMEABLE = ("/settings", "/panel")
REST_OF_POLICY = "base-uri 'self'; object-src 'none'"


def frameable(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in FRAMEABLE)


def policy(path: str, frame_ancestors: str) -> bytes:
    ancestors = frame_ancestors if frameable(path) else "'none'"
    return f"frame-ancestors {ancestors}; {REST_OF_POLICY}".encode()


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html"):
                    headers.append((b"content-security-policy",
                                    policy(scope["path"], _frame_ancestors(scope))))
            await send(message)

        await self.app(scope, receive, send_with_policy)


def _frame_ancestors(scope: Scope) -> str:
    """The running app's configured ancestors (read at startup), else Pipedrive's."""
    ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
    return str(getattr(getattr(ctx, "config", None), "frame_ancestors",
                       PIPEDRIVE_ORIGINS))
