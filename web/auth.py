"""Who is asking: signed session cookie (standalone pages), Pipedrive's JWT (iframes), OAuth
state, and the cross-site request check. One signing salt per purpose."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from appconfig import Config
from clients.errors import ApiError
from store import oauth_nonces, tenants
from store.db import Store, now
from sync.webhook.parse import parse_id
from web.admin_rights import confirmed_admin
from web.errors import HTTPProblem
from web.state import app_context

log = logging.getLogger("pipedrive_maileon.auth")

SESSION_COOKIE = "pm_session"
STATE_COOKIE = "pm_oauth"
SESSION_MAX_AGE = 12 * 3600
STATE_MAX_AGE = 600
JWT_MAX_AGE = 600.0  # for tokens without `exp`; Pipedrive's signed tokens live 5 minutes
TOKEN_HEADER = "x-pipedrive-token"  # noqa: S105 - a header name


@dataclass(frozen=True)
class Identity:
    company_id: int
    user_id: int
    via: str  # session | jwt
    token: str = ""


def _serializer(config: Config, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config.secret_key, salt=salt)


# --- session --------------------------------------------------------------------------------
def set_session(response: Response, config: Config, company_id: int, user_id: int) -> None:
    value = _serializer(config, "session").dumps({"c": company_id, "u": user_id})
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE,
        httponly=True,
        secure=config.secure_cookies,
        samesite="lax",
    )


def session_identity(request: Request, config: Config) -> Identity | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(config, "session").loads(raw, max_age=SESSION_MAX_AGE)
        return Identity(int(data["c"]), int(data["u"]), "session")
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


# --- Pipedrive JWT (custom UI) ----------------------------------------------------------------
def verify_jwt(token: str, config: Config) -> Identity | None:
    """HS256 with the JWT secret (else client secret), and always time-limited: by `exp`, or
    when a token carries only `iat`, by JWT_MAX_AGE. Claim names are UNCONFIRMED: accept
    companyId/company_id and userId/user_id."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            config.panel_jwt_secret,
            algorithms=["HS256"],
            options={"require": [], "verify_exp": True},
        )
        if "exp" not in claims and not now() - float(claims["iat"]) < JWT_MAX_AGE:
            return None
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None
    company = claims.get("companyId", claims.get("company_id"))
    user = claims.get("userId", claims.get("user_id"))
    company_id, user_id = parse_id(company), parse_id(user)
    if company_id is None or user_id is None:  # signed by Pipedrive, not the claims we know
        _warn_claims(sorted(str(k)[:40] for k in claims)[:20])
        return None
    return Identity(company_id, user_id, "jwt", token)


_claims_warned: set[tuple[str, ...]] = set()


def _warn_claims(names: list[str]) -> None:
    """One warning per unexpected claim set (the company is unknown without its claim)."""
    if tuple(names) not in _claims_warned:
        _claims_warned.add(tuple(names))
        log.warning(
            "a validly signed Pipedrive token lacks companyId/userId (claims: %s)", ", ".join(names)
        )


FRAMED_PAGES = ("/settings", "/panel")


def query_token(request: Request) -> str:
    """The `?token=` Pipedrive adds when it loads /settings or /panel into its iframe, else ''.

    Anyone can send a signed-in admin a link carrying the attacker's own fresh token (login
    CSRF, issue #23), so a query token counts only for that GET, and not when the browser says
    it opens the link as a page (Sec-Fetch-Dest: document) instead of in a frame. It never
    authorises a change: HTMX requests carry the token in the X-Pipedrive-Token header, which
    a link or another site's form cannot set."""
    token = request.query_params.get("token", "")
    if not token or request.method != "GET" or request.url.path not in FRAMED_PAGES:
        return ""
    destination = request.headers.get("sec-fetch-dest")
    return token if destination in (None, "iframe") else ""


def request_identity(request: Request, config: Config) -> Identity | None:
    header = request.headers.get(TOKEN_HEADER)
    if header:
        return verify_jwt(header, config)  # a bad token never falls back to the cookie
    session = session_identity(request, config)
    token = query_token(request)
    if not token:
        return session
    identity = verify_jwt(token, config)
    if identity is not None and session is not None and not same_user(identity, session):
        # Never replace the signed-in user silently (a frame gets no cookie: SameSite=Lax).
        raise HTTPProblem(
            409,
            "Signed in as another user",
            "This link is for another Pipedrive user or company than the one signed in "
            "here, so it was not opened. Open the settings from Pipedrive, or sign in again.",
            link={"url": "/settings", "label": "Open my settings"},
        )
    return identity


def same_user(a: Identity, b: Identity) -> bool:
    return (a.company_id, a.user_id) == (b.company_id, b.user_id)


# --- cross-site check -------------------------------------------------------------------------
def cross_site(request: Request, config: Config, identity: Identity | None) -> bool:
    """True when a state-changing request must be refused as cross-site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is not None:
        app = urlsplit(config.app_url)  # never the request's Host header (issue #23)
        return origin.rstrip("/") != f"{app.scheme}://{app.netloc}"
    # No browser headers: only a header-carried JWT (not sent by browsers on their own) is safe.
    return identity is None or identity.via != "jwt"


# --- OAuth state: signed, expiring, bound to the browser, single-use ---------------------------
def new_state(config: Config, response_cookie: Response, nxt: str = "") -> str:
    """Writes nothing: the state is signed, and a signed cookie binds it to this browser."""
    nonce = secrets.token_urlsafe(24)
    binding = hashlib.sha256(nonce.encode()).hexdigest()
    response_cookie.set_cookie(
        STATE_COOKIE,
        _serializer(config, "oauth-binding").dumps(binding),
        max_age=STATE_MAX_AGE,
        httponly=True,
        secure=config.secure_cookies,
        samesite="lax",
    )
    return str(_serializer(config, "oauth-state").dumps({"n": nonce, "next": nxt}))


def consume_state(
    store: Store, config: Config, request: Request, state: str
) -> dict[str, Any] | None:
    """The state's data when valid for this browser and unused; it can never be used again."""
    try:
        data = _serializer(config, "oauth-state").loads(state, max_age=STATE_MAX_AGE)
        nonce = str(data["n"])
        binding = _serializer(config, "oauth-binding").loads(
            request.cookies.get(STATE_COOKIE, ""), max_age=STATE_MAX_AGE
        )
    except (BadSignature, KeyError, TypeError):
        return None
    if not hmac.compare_digest(str(binding), hashlib.sha256(nonce.encode()).hexdigest()):
        return None
    return data if oauth_nonces.use_once(store, nonce, now() + STATE_MAX_AGE) else None


def check_basic(header: str | None, user: str, password: str) -> bool:
    """Constant-time check of an HTTP Basic header against expected credentials."""
    return basic_matches(basic_pair(header), user, password)


def basic_pair(header: str | None) -> str:
    """The `user:password` an HTTP Basic header carries ("" when it carries none)."""
    if not header or not header.lower().startswith("basic "):
        return ""
    try:
        return base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def basic_matches(given: str, user: str, password: str) -> bool:
    """Constant-time check of a `basic_pair` against expected credentials."""
    if not given or not user:
        return False
    return hmac.compare_digest(given.encode(), f"{user}:{password}".encode())


# --- views that need a signed-in user or an admin (compare starlette's `requires`) -------------
View = Callable[[Request, Identity], Awaitable[Response]]


def settings_identity(request: Request) -> Identity:
    """Who is asking for a settings page or card; raises HTTPProblem when nobody is signed in
    or the user has not installed the app."""
    ctx = app_context(request)
    identity = request_identity(request, ctx.config)
    if identity is None:
        if request.headers.get(TOKEN_HEADER) or query_token(request):
            raise HTTPProblem(
                401,
                "Session expired",
                "This page's Pipedrive token is invalid or expired. Reload the page in Pipedrive.",
            )
        if request.method == "GET" and not request.headers.get("hx-request"):
            raise HTTPProblem(303, "", "", location="/oauth/install?next=settings")
        raise HTTPProblem(401, "Sign in required", "Please open the settings again.")
    if tenants.get_installation(ctx.store, identity.company_id, identity.user_id) is None:
        raise HTTPProblem(
            403,
            "Authorize the app first",
            "You have not installed Maileon for Pipedrive yet. Install it for "
            "your user to see its settings.",
            link={"url": "/oauth/install?next=settings", "label": "Install"},
        )
    return identity


async def admin_identity(request: Request) -> Identity:
    """The identity of a change: an admin *now*, as Pipedrive says with the user's own token.
    Raises HTTPProblem otherwise."""
    ctx = app_context(request)
    identity = settings_identity(request)
    if cross_site(request, ctx.config, identity):
        raise HTTPProblem(403, "Request refused", "Cross-site requests are not allowed.")
    try:
        admin = await confirmed_admin(ctx, identity.company_id, identity.user_id)
    except ApiError as exc:
        raise HTTPProblem(
            503,
            "Admin rights not confirmed",
            f"Pipedrive could not confirm your admin rights ({exc.message}), so "
            "nothing was changed. Please try again.",
        ) from exc
    if not admin:
        raise HTTPProblem(
            403,
            "Read-only",
            "Only Pipedrive admins can change these settings. "
            "Pipedrive says you are not an admin, so nothing was changed.",
        )
    return identity


def requires(
    find: Callable[[Request], Awaitable[Identity]],
) -> Callable[[View], Callable[[Request], Awaitable[Response]]]:
    """The view runs with the identity `find` establishes; `find` raises HTTPProblem when
    there is none (the settings pages, the admin's changes, the panel: web/panel.py)."""

    def wrap(view: View) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(view)
        async def run(request: Request) -> Response:
            return await view(request, await find(request))

        return run

    return wrap


async def _signed_in(request: Request) -> Identity:
    return settings_identity(request)


def requires_identity(view: View) -> Callable[[Request], Awaitable[Response]]:
    """The view runs with the signed-in user's identity (see `settings_identity`)."""
    return requires(_signed_in)(view)


def requires_admin(view: View) -> Callable[[Request], Awaitable[Response]]:
    """The view runs only for an admin confirmed by Pipedrive now (see `admin_identity`)."""
    return requires(admin_identity)(view)
