"""OAuth: authorize, token (code and refresh), revoke; issuing and checking tokens."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.pipedrive.core import TEMPLATES, SimCore
from sandbox.pipedrive.helpers import oauth_error, with_query
from sandbox.pipedrive.model import (
    SCOPE_DESCRIPTIONS,
    SCOPES,
    TOKEN_EXPIRES_IN,
    AccessToken,
    Installation,
)
from sandbox.pipedrive.webhooks import WebhookAdmin


class OAuth:
    """The OAuth flow and its tokens."""

    def __init__(self, core: SimCore, hooks: WebhookAdmin) -> None:
        self.core = core
        self.hooks = hooks

    def routes(self) -> list[BaseRoute]:
        """The OAuth endpoints."""
        return [
            Route("/oauth/authorize", self._oauth_authorize, methods=["GET", "POST"]),
            Route("/oauth/token", self._oauth_token, methods=["POST"]),
            Route("/oauth/revoke", self._oauth_revoke, methods=["POST"]),
        ]

    # ------------------------------------------------------------------ oauth / tokens

    def _issue_token(self, install: Installation) -> dict[str, Any]:
        now = time.time()
        lifetime = (
            self.core.token_lifetime
            if self.core.token_lifetime is not None
            else (TOKEN_EXPIRES_IN * self.core.time_scale)
        )
        token = "v1u:" + secrets.token_urlsafe(48)
        self.core.access_tokens[token] = AccessToken(
            token, install.id, install.company_id, install.user_id, now, now + lifetime
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "refresh_token": install.refresh_token,
            "scope": SCOPES,
            "expires_in": TOKEN_EXPIRES_IN,
            "api_domain": self.core.companies[install.company_id].get("api_domain")
            or self.core.base_url,
        }

    def token_auth(self, header: str | None) -> AccessToken | None:
        if not header or not header.lower().startswith("bearer "):
            return None
        tok = self.core.access_tokens.get(header[7:].strip())
        if tok is None or tok.revoked or time.time() >= tok.expires_at:
            return None
        install = self.core.installations.get(tok.install_id)
        if install is None or not install.active:
            return None
        return tok

    def _client_ok(self, request: Request, form: FormData) -> bool:
        header = request.headers.get("authorization", "")
        cid, secret = form.get("client_id"), form.get("client_secret")
        if header.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
        return (
            isinstance(cid, str)
            and isinstance(secret, str)
            and secrets.compare_digest(cid, self.core.client_id)
            and secrets.compare_digest(secret, self.core.client_secret)
        )

    def revoke_install(self, install: Installation) -> None:
        install.active = False
        for tok in self.core.access_tokens.values():
            if tok.install_id == install.id:
                tok.revoked = True

    def _authorize_problem(self, client_id: str | None, redirect_uri: str | None) -> str | None:
        if client_id != self.core.client_id:
            return "Unknown client_id: this app is not registered."
        if not redirect_uri:
            return "Invalid request: redirect_uri is missing."
        with self.core.lock:
            if self.core.registered_redirect_uri is None:
                self.core.registered_redirect_uri = redirect_uri
            elif redirect_uri != self.core.registered_redirect_uri:
                return (
                    "Invalid request: redirect_uri does not match the app's callback URL "
                    f"({self.core.registered_redirect_uri})."
                )
        return None

    # ------------------------------------------------------------------ oauth routes

    async def _oauth_authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params: Any = request.query_params
        else:
            params = await request.form()
        client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
        state = params.get("state")
        problem = self._authorize_problem(client_id, redirect_uri)
        if problem:
            return TEMPLATES.TemplateResponse(
                request, "pipedrive/oauth_error.html", {"message": problem}, status_code=400
            )
        assert isinstance(redirect_uri, str)
        extra = {"state": str(state)} if state else {}
        if request.method == "GET":
            with self.core.lock:
                users = [
                    {**u, "company": self.core.companies[u["company_id"]]["name"]}
                    for u in self.core.users.values()
                ]
            return TEMPLATES.TemplateResponse(
                request,
                "pipedrive/consent.html",
                {
                    "client_id": client_id,
                    "app_name": self.core.app_name,
                    "redirect_uri": redirect_uri,
                    "state": state or "",
                    "scopes": SCOPE_DESCRIPTIONS,
                    "users": users,
                },
            )
        if params.get("action") != "allow":
            return RedirectResponse(
                with_query(redirect_uri, {"error": "user_denied", **extra}), status_code=302
            )
        with self.core.lock:
            try:
                user = self.core.users[int(str(params.get("user_id", "501")))]
            except (KeyError, ValueError):
                return TEMPLATES.TemplateResponse(
                    request,
                    "pipedrive/oauth_error.html",
                    {"message": "Unknown user."},
                    status_code=400,
                )
            code = f"{user['company_id']}.{user['id']}.{secrets.token_hex(20)}"
            self.core.codes[code] = {
                "company_id": user["company_id"],
                "user_id": user["id"],
                "redirect_uri": redirect_uri,
                "expires_at": time.time() + self.core.code_ttl,
            }
        return RedirectResponse(with_query(redirect_uri, {"code": code, **extra}), status_code=302)

    async def _oauth_token(self, request: Request) -> Response:
        with self.core.lock:
            self.core.token_calls += 1
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return oauth_error(
                400,
                "Invalid request: content must be application/x-www-form-urlencoded",
                "invalid_request",
            )
        form = await request.form()
        if not self._client_ok(request, form):
            return oauth_error(401, "Invalid client: client is invalid", "invalid_client")
        grant = form.get("grant_type")
        with self.core.lock:
            if grant == "authorization_code":
                code = self.core.codes.pop(str(form.get("code") or ""), None)
                if code is None or code["expires_at"] < time.time():
                    return oauth_error(
                        400, "Invalid grant: authorization code is invalid", "invalid_grant"
                    )
                if form.get("redirect_uri") not in (None, code["redirect_uri"]):
                    return oauth_error(
                        400, "Invalid request: redirect_uri is invalid", "invalid_request"
                    )
                iid = next(self.core._ids["install"])
                install = Installation(
                    iid,
                    code["company_id"],
                    code["user_id"],
                    f"{code['company_id']}:{code['user_id']}:{secrets.token_hex(20)}",
                )
                self.core.installations[iid] = install
                return JSONResponse(self._issue_token(install))
            if grant == "refresh_token":
                self.core.refresh_calls += 1
                refresh = str(form.get("refresh_token") or "")
                install_or_none = next(
                    (
                        i
                        for i in self.core.installations.values()
                        if i.refresh_token == refresh and i.active
                    ),
                    None,
                )
                if install_or_none is None:
                    return oauth_error(
                        400, "Invalid grant: refresh token is invalid", "invalid_grant"
                    )
                return JSONResponse(self._issue_token(install_or_none))
        return oauth_error(400, "Invalid request: grant_type is invalid", "unsupported_grant_type")

    async def _oauth_revoke(self, request: Request) -> Response:
        form = await request.form()
        if not self._client_ok(request, form):
            return oauth_error(401, "Invalid client: client is invalid", "invalid_client")
        token = str(form.get("token") or "")
        with self.core.lock:
            for install in self.core.installations.values():
                if install.refresh_token == token and install.active:
                    self.revoke_install(install)
                    if not any(
                        i.active
                        and i.company_id == install.company_id
                        and i.user_id == install.user_id
                        for i in self.core.installations.values()
                    ):
                        self.hooks.uninstall_user(install.company_id, install.user_id)
            tok = self.core.access_tokens.get(token)
            if tok is not None:
                tok.revoked = True
        return JSONResponse({"success": True})
