"""Refusals raise, one handler renders: a view or helper raises `HTTPProblem`, and
`render_problem` (registered in web/app.py) answers with the message page (or, in the panel
iframe, the panel's message page that still loads the SDK)."""

from __future__ import annotations

import json
from typing import Literal

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from web.templating import templates


class HTTPProblem(Exception):
    """A request the app refuses, with the status, title and text the user sees.

    `look`: "message" renders templates/message.html (pages and HTMX answers), "panel" the
    panel iframe's page, "json" a webhook's JSON error `{"ok": false, "error": detail}`.
    `location`: a redirect (303) instead of a page. `headers`: sent with the answer (a 401's
    `WWW-Authenticate`, a 503's `Retry-After`)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        link: dict[str, str] | None = None,
        *,
        look: Literal["message", "panel", "json"] = "message",
        kind: str = "error",
        location: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}")
        self.status, self.title, self.detail, self.link = status, title, detail, link
        self.look, self.kind, self.location = look, kind, location
        self.headers = headers or {}


def message(
    request: Request,
    title: str,
    text: str,
    status: int = 200,
    link: dict[str, str] | None = None,
    kind: str = "info",
) -> Response:
    return templates.TemplateResponse(
        request,
        "message.html",
        {"title": title, "text": text, "link": link, "kind": kind},
        status_code=status,
    )


def theme(request: Request) -> str:
    return "dark" if request.query_params.get("theme") == "dark" else "light"


def panel_message(
    request: Request, title: str, text: str, status: int, link: dict[str, str] | None = None
) -> Response:
    """A panel page without data (loads the SDK too, so Pipedrive shows it)."""
    return templates.TemplateResponse(
        request,
        "panel_message.html",
        {"title": title, "text": text, "link": link, "theme": theme(request)},
        status_code=status,
    )


def json_body(detail: str) -> bytes:
    """A refusal's JSON answer (webhooks, the body limit): `{"ok": false, "error": detail}`."""
    return json.dumps({"ok": False, "error": detail}).encode()


async def render_problem(request: Request, exc: Exception) -> Response:
    """The one exception handler for `HTTPProblem`."""
    assert isinstance(exc, HTTPProblem)
    if exc.location:
        return RedirectResponse(exc.location, status_code=exc.status)
    if exc.look == "json":
        return Response(
            json_body(exc.detail), exc.status, exc.headers, media_type="application/json"
        )
    if exc.look == "panel":
        return panel_message(request, exc.title, exc.detail, exc.status, exc.link)
    return message(request, exc.title, exc.detail, exc.status, exc.link, exc.kind)
