"""Pipedrive's custom UI extensions, simulated: a person page with the app's Newsletter panel
and the app's settings page, each an iframe of the app's URL carrying a JWT that "Pipedrive"
signs, inside a host page that answers the App Extensions SDK's postMessage protocol
(`templates/pipedrive/extension.html`).

The app's URLs are what an app registers in the Developer Hub: `app_url` + `/panel` and
`/settings`. Without an explicit `app_url` they follow the OAuth callback URL the app used.
The simulator imports nothing from the app.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sandbox.digits import ascii_int
from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.display import ui_display, ui_fields

TOKEN_TTL = 300  # Pipedrive's custom UI tokens live five minutes
MAX_TTL = 3600


class Extensions:
    def __init__(self, core: SimCore, templates: Jinja2Templates) -> None:
        self.core = core
        self.templates = templates

    def routes(self) -> list[Route]:
        return [
            Route("/ui/persons/{id:int}/view", self.person_page, methods=["GET"]),
            Route("/ui/settings", self.settings_page, methods=["GET"]),
            Route("/ui/extensions/token", self.token, methods=["GET"]),
        ]

    # --- what Pipedrive knows of the app -----------------------------------------------------
    def app_url(self) -> str:
        if self.core.app_url:
            return self.core.app_url.rstrip("/")
        callback = self.core.registered_redirect_uri
        if not callback:
            return ""
        parts = urlsplit(callback)
        return f"{parts.scheme}://{parts.netloc}"

    def sign(self, company_id: int, user_id: int, ttl: int = TOKEN_TTL) -> str:
        issued = int(time.time())
        return jwt.encode(
            {"userId": user_id, "companyId": company_id, "iat": issued, "exp": issued + ttl},
            self.core.jwt_secret or self.core.client_secret,
            algorithm="HS256",
        )

    # --- the viewer --------------------------------------------------------------------------
    def _viewer(self, request: Request, company_id: int) -> dict[str, Any]:
        """The signed-in user: `?user=` when it belongs to the company, else its admin."""
        raw = request.query_params.get("user", "")
        uid = ascii_int(raw, max_digits=9)
        user = None if uid is None else self.core.users.get(uid)
        if user is None or user["company_id"] != company_id:
            user = self.core.users[self.core.admin_of(company_id)]
        return user

    @staticmethod
    def _theme(request: Request) -> str:
        return "dark" if request.query_params.get("theme") == "dark" else "light"

    @staticmethod
    def _ttl(request: Request) -> int:
        raw = request.query_params.get("token_ttl", "")
        ttl = ascii_int(raw, max_digits=5)
        return TOKEN_TTL if ttl is None else max(1, min(MAX_TTL, ttl))

    def _page(
        self,
        request: Request,
        *,
        company_id: int,
        user: dict[str, Any],
        kind: str,
        iframe: str,
        extra: dict[str, Any],
    ) -> Response:
        with self.core.lock:
            users = [u for u in self.core.users.values() if u["company_id"] == company_id]
        return self.templates.TemplateResponse(
            request,
            "pipedrive/extension.html",
            {
                "companies": list(self.core.companies.values()),
                "company": self.core.companies[company_id],
                "user": user,
                "users": users,
                "kind": kind,
                "iframe": iframe,
                "theme": self._theme(request),
                "app_url": self.app_url(),
                **extra,
            },
        )

    # --- pages -------------------------------------------------------------------------------
    async def person_page(self, request: Request) -> Response:
        pid = int(request.path_params["id"])
        with self.core.lock:
            person = self.core.persons.get(pid)
            if person is None:
                return HTMLResponse("<p>Person not found. <a href='/'>Back</a></p>", 404)
            cid = person["company_id"]
            orgs = self.core.organizations
            details = {
                "id": pid,
                "name": person["name"],
                "emails": [e["value"] for e in person["emails"]],
                "org": orgs[person["org_id"]]["name"] if person["org_id"] in orgs else "",
                "deals": [d["title"] for d in self.core.deals.values() if d["person_id"] == pid],
                "notes": [n for n in self.core.notes.values() if n["person_id"] == pid],
                "fields": [
                    (f["name"], ui_display(f, person["custom_fields"].get(f["key"])))
                    for f in ui_fields(self.core, cid)
                ],
            }
        user = self._viewer(request, cid)
        app = self.app_url()
        iframe = ""
        if app:
            iframe = f"{app}/panel?" + urlencode(
                {
                    "resource": "person",
                    "view": "details",
                    "selectedIds": pid,
                    "id": secrets.token_hex(8),
                    "theme": self._theme(request),
                    "userId": user["id"],
                    "companyId": cid,
                    "token": self.sign(cid, user["id"], self._ttl(request)),
                }
            )
        return self._page(
            request,
            company_id=cid,
            user=user,
            kind="panel",
            iframe=iframe,
            extra={"person": details},
        )

    async def settings_page(self, request: Request) -> Response:
        raw = request.query_params.get("company", "")
        cid = ascii_int(raw, max_digits=9) or 1001
        if cid not in self.core.companies:
            cid = 1001
        user = self._viewer(request, cid)
        app = self.app_url()
        iframe = ""
        if app:
            iframe = f"{app}/settings?" + urlencode(
                {
                    "resource": "settings",
                    "id": secrets.token_hex(8),
                    "theme": self._theme(request),
                    "userId": user["id"],
                    "companyId": cid,
                    "token": self.sign(cid, user["id"], self._ttl(request)),
                }
            )
        return self._page(
            request,
            company_id=cid,
            user=user,
            kind="settings",
            iframe=iframe,
            extra={"person": None},
        )

    async def token(self, request: Request) -> Response:
        """GET_SIGNED_TOKEN: a fresh token for the signed-in user of the host page."""
        raw = request.query_params.get("company", "")
        cid = ascii_int(raw, max_digits=9) or 0
        if cid not in self.core.companies:
            return PlainTextResponse("unknown company", status_code=404)
        user = self._viewer(request, cid)
        return PlainTextResponse(self.sign(cid, user["id"]), headers={"cache-control": "no-store"})
