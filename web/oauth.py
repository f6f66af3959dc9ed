"""Install (F1) and uninstall (F3) on the single Callback URL."""

from __future__ import annotations

import logging
import math

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from clients import safe_json
from clients.errors import ApiError, PermanentError
from clients.pipedrive import PipedriveClient
from store import tenants
from sync.syncback import events as syncback
from sync.webhook.parse import parse_id
from web.admin_rights import admin_flag
from web.auth import STATE_COOKIE, check_basic, consume_state, new_state, set_session
from web.errors import message
from web.state import app_context, oauth_throttle

log = logging.getLogger("pipedrive_maileon.oauth")


async def install(request: Request) -> Response:
    """Installation URL: start the OAuth flow with a state bound to this browser."""
    ctx = app_context(request)
    response = RedirectResponse("about:blank", status_code=302)
    state = new_state(
        ctx.config,
        response,
        nxt="settings" if request.query_params.get("next") == "settings" else "",
    )
    response.headers["location"] = ctx.oauth.authorize_url(ctx.config.callback_url, state)
    return response


async def callback(request: Request) -> Response:
    ctx = app_context(request)
    params = request.query_params
    state = params.get("state")
    if params.get("error"):
        if state:
            consume_state(ctx.store, ctx.config, request, state)
        return message(
            request,
            "Installation cancelled",
            "You cancelled the installation, so nothing was changed. You can install "
            "Maileon for Pipedrive again from the Marketplace at any time.",
            link={"url": "/oauth/install", "label": "Try again"},
        )
    code = params.get("code", "")
    if not code or len(code) > 2048:
        return message(
            request,
            "Installation failed",
            "Pipedrive did not send an authorization code.",
            400,
            link={"url": "/oauth/install", "label": "Start again"},
            kind="error",
        )
    if not state:
        # A Marketplace install (or a forged link): no code is exchanged and nobody is signed
        # in; the Installation URL adds a state bound to this browser, and Pipedrive returns at
        # once because the user has already consented (login CSRF, issue #13).
        return RedirectResponse("/oauth/install", status_code=303)
    if consume_state(ctx.store, ctx.config, request, state) is None:
        return message(
            request,
            "Installation link expired",
            "This installation link is invalid, expired or was already used. Please "
            "start the installation again.",
            400,
            link={"url": "/oauth/install", "label": "Start again"},
            kind="error",
        )
    throttle = oauth_throttle(request)
    client = request.client.host if request.client else ""
    wait = throttle.admit(client)
    if wait:
        log.warning("install refused: too many code exchanges (wait %d s)", wait)
        response = message(
            request,
            "Too many installation attempts",
            "Pipedrive's sign-in was asked too often from here, so nothing was sent to "
            f"Pipedrive. Please start the installation again in {math.ceil(wait / 60)} min.",
            429,
            link={"url": "/oauth/install", "label": "Start again"},
            kind="error",
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    try:
        try:
            tokens = await ctx.oauth.exchange_code(code, ctx.config.callback_url)
        except ApiError:
            throttle.failed(client)
            raise
        throttle.succeeded(client)
        if not ctx.config.api_domain_allowed(tokens.api_domain):
            # never send the new access token anywhere but Pipedrive
            raise PermanentError("its API address is not a Pipedrive domain")

        async def token() -> str:
            return tokens.access_token

        async def no_refresh(_: str) -> str:
            return tokens.access_token

        me = await PipedriveClient(ctx.http, tokens.api_domain, token, no_refresh).users_me()
        company_id, user_id = parse_id(me.get("company_id")), parse_id(me.get("id"))
        if company_id is None or user_id is None:
            raise ValueError("users/me named no company or user id")
    except (ApiError, KeyError, TypeError, ValueError) as exc:
        reason = exc.message if isinstance(exc, ApiError) else "unexpected answer from Pipedrive"
        log.warning("install failed: %s", reason)
        return message(
            request,
            "Installation failed",
            f"Pipedrive did not complete the installation ({reason}). Please try again.",
            502,
            link={"url": "/oauth/install", "label": "Try again"},
            kind="error",
        )
    is_admin = admin_flag(me)
    tenants.save_installation(
        ctx.store,
        company_id=company_id,
        company_name=str(me.get("company_name") or ""),
        domain=str(me.get("company_domain") or ""),
        api_domain=tokens.api_domain,
        user_id=user_id,
        user_name=str(me.get("name") or ""),
        is_admin=is_admin,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        scope=tokens.scope,
    )
    response = RedirectResponse("/settings", status_code=303)
    response.delete_cookie(STATE_COOKIE)
    set_session(response, ctx.config, company_id, user_id)
    return response


async def uninstall(request: Request) -> Response:
    """DELETE from Pipedrive with Basic client_id:client_secret; wipes the company when its last
    installation goes."""
    ctx = app_context(request)
    if not check_basic(
        request.headers.get("authorization"), ctx.config.client_id, ctx.config.client_secret
    ):
        return JSONResponse(
            {"error": "unauthorized"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="uninstall"'},
        )
    try:
        body = safe_json.loads(await request.body() or b"{}")
        company_id, user_id = parse_id(body["company_id"]), parse_id(body["user_id"])
        if company_id is None or user_id is None:
            raise ValueError("ids")
    except (ValueError, KeyError, TypeError, AttributeError):
        return JSONResponse({"error": "expected JSON with company_id and user_id"}, status_code=400)
    await syncback.remove_webhooks(ctx, company_id, user_id)  # F10; only when wiping
    wiped = tenants.delete_installation(ctx.store, company_id, user_id)
    if wiped:
        ctx.forget(company_id)
    log.info("uninstalled company=%s user=%s wiped=%s", company_id, user_id, wiped)
    return JSONResponse({"ok": True, "company_data_deleted": wiped})


async def callback_post(request: Request) -> Response:
    """App-sharing notifications: acknowledged, nothing to store."""
    return JSONResponse({"ok": True})
