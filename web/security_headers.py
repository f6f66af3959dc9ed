"""Security headers, added by web.app.RequestContext to every response as it starts.

Only the settings and the panel may be framed, and only by Pipedrive (Config.frame_ancestors;
the sandbox and the tests name their own simulated host); every other page by nobody.
"""

from __future__ import annotations

from starlette.types import Scope

from appconfig import PIPEDRIVE_ORIGINS

FRAMEABLE = ("/settings", "/panel")
REST_OF_POLICY = "base-uri 'self'; object-src 'none'"


def frameable(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in FRAMEABLE)


def policy(path: str, frame_ancestors: str) -> bytes:
    ancestors = frame_ancestors if frameable(path) else "'none'"
    return f"frame-ancestors {ancestors}; {REST_OF_POLICY}".encode()


def response_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
    """Add the security headers to a response's headers: on every response `nosniff` and the
    Referrer-Policy; on HTML pages the Content-Security-Policy and `Cache-Control: no-store`."""
    headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if ctype.startswith(b"text/html"):
        headers.append(
            (b"content-security-policy", policy(scope["path"], allowed_ancestors(scope)))
        )
        # Pages show one company's settings and the user's token: no cache keeps them.
        if not any(k.lower() == b"cache-control" for k, _ in headers):
            headers.append((b"cache-control", b"no-store"))


def allowed_ancestors(scope: Scope) -> str:
    """The running app's configured ancestors (read at startup), else Pipedrive's."""
    ctx = getattr(getattr(scope.get("app"), "state", None), "ctx", None)
    return str(getattr(getattr(ctx, "config", None), "frame_ancestors", PIPEDRIVE_ORIGINS))
