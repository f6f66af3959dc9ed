"""The Newsletter panel on the Pipedrive person page (F11): a custom UI panel (iframe).

Who is asking comes only from Pipedrive's JWT (`token` in the iframe URL, later a fresh signed
token from the SDK in the X-Pipedrive-Token header; never a cookie): company and user from the
verified claims, the person from `selectedIds`. Person data is read with the *viewing user's*
own Pipedrive authorization, so the panel shows only persons that user can see in their own
company, and nothing stored locally is shown before Pipedrive confirmed that.

`GET /panel` renders a shell at once (no outside calls) that initializes the App Extensions SDK
(Pipedrive hides a panel that has not initialized within 10 s); the status comes from
`GET /panel/status` through HTMX, each outside call bounded by STATUS_TIMEOUT.

UNCONFIRMED, read tolerantly:
* `selectedIds` may be a comma-separated list; the first id is the person.
* Maileon does not tell whether a double opt-in is pending (the contact simply has permission
  none); the app's own record of having started one says so.
* Maileon anonymizes unsubscribed contacts, so an address unknown to Maileon that the app
  recorded as unsubscribed is shown as unsubscribed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from clients.errors import ApiError, ReauthRequired, TransientError
from clients.maileon import PERMISSIONS
from clients.pipedrive import PipedriveClient
from store import people, synclog, tenants
from store.db import Store
from store.people import PersonState
from store.transactions import recent_transactions as stored_transactions
from sync.engine.context import Context
from sync.persons import contacts, newsletter
from sync.persons.person import Person, from_pipedrive, person_label, plausible_email
from sync.rules import gate as rules_gate
from sync.webhook.parse import parse_id
from web.auth import TOKEN_HEADER, Identity, cross_site, query_token, requires, verify_jwt
from web.errors import HTTPProblem, theme
from web.state import app_context
from web.templating import templates

log = logging.getLogger("pipedrive_maileon.panel")

STATUS_TIMEOUT = 8.0  # seconds for each outside call while rendering the status
TRANSACTIONS = 5
TRANSACTION_LABELS = {
    "pipedrive_deal_added": "Deal added",
    "pipedrive_deal_updated": "Deal updated",
    "pipedrive_deal_deleted": "Deal deleted",
}


def person_id_of(raw: str) -> int | None:
    return parse_id(raw.split(",")[0])


def _refuse(
    status: int, title: str, text: str, header_only: bool, link: dict[str, str] | None = None
) -> HTTPProblem:
    """A refusal: the panel page (loads the SDK too, so Pipedrive shows it), or for an HTMX call
    (`header_only`) the message page, which app.js and panel.js show instead of swapping."""
    return HTTPProblem(
        status,
        title,
        text,
        None if header_only else link,
        look="message" if header_only else "panel",
    )


def _identity(request: Request, header_only: bool) -> Identity:
    """Who is asking, from Pipedrive's JWT only; raises HTTPProblem when that is not known."""
    ctx = app_context(request)
    token = request.headers.get(TOKEN_HEADER, "")
    if not token and not header_only:
        token = query_token(request)  # only the GET that loads the frame (issue #23)
    if not token:
        raise _refuse(
            401, "Not signed in", "Open this panel from a person in Pipedrive.", header_only
        )
    identity = verify_jwt(token, ctx.config)
    if identity is None:
        raise _refuse(
            401,
            "Session expired",
            "The panel's Pipedrive token is invalid or expired. Reload the page in Pipedrive.",
            header_only,
        )
    if tenants.get_installation(ctx.store, identity.company_id, identity.user_id) is None:
        if header_only:
            raise _refuse(
                403,
                "Authorize the app first",
                "Install Maileon for Pipedrive for your user to use this panel.",
                True,
            )
        raise _refuse(
            403,
            "Authorize the app first",
            "Install Maileon for Pipedrive for your Pipedrive user to see the "
            "newsletter status here.",
            False,
            link={"url": "/oauth/install", "label": "Install the app"},
        )
    return identity


async def frame_identity(request: Request) -> Identity:
    """The frame's GET: the token may come in the URL; refusals are panel pages."""
    return _identity(request, header_only=False)


async def call_identity(request: Request) -> Identity:
    """The panel's HTMX calls: the token in the header only; refusals are message pages."""
    return _identity(request, header_only=True)


# --- pages ------------------------------------------------------------------------------------
@requires(frame_identity)
async def panel(request: Request, identity: Identity) -> Response:
    """The iframe: a shell that initializes the SDK at once and loads the status by HTMX."""
    person_id = person_id_of(request.query_params.get("selectedIds", ""))
    if person_id is None:
        raise _refuse(
            400,
            "No person selected",
            "This panel shows the newsletter status of a person. Open a person in Pipedrive.",
            header_only=False,
        )
    return templates.TemplateResponse(
        request,
        "panel.html",
        {"theme": theme(request), "hx_token": identity.token, "person_id": person_id},
    )


@requires(call_identity)
async def panel_status(request: Request, identity: Identity) -> Response:
    person_id = person_id_of(request.query_params.get("selectedIds", ""))
    if person_id is None:
        raise _refuse(400, "No person selected", "Open a person in Pipedrive.", header_only=True)
    view = await status_view(app_context(request), identity, person_id)
    view["engagement"] = view["known"]  # Pipedrive showed the person: its mailings may load
    return templates.TemplateResponse(request, "partials/panel_status.html", view)


@requires(call_identity)
async def panel_subscribe(request: Request, identity: Identity) -> Response:
    return await _action(request, identity, subscribe=True)


@requires(call_identity)
async def panel_unsubscribe(request: Request, identity: Identity) -> Response:
    return await _action(request, identity, subscribe=False)


async def _action(request: Request, identity: Identity, subscribe: bool) -> Response:
    ctx = app_context(request)
    if cross_site(request, ctx.config, identity):
        raise _refuse(
            403, "Request refused", "Cross-site requests are not allowed.", header_only=True
        )
    form = await request.form()
    person_id = person_id_of(str(form.get("person_id", "")))
    if person_id is None:
        raise _refuse(400, "No person selected", "Open a person in Pipedrive.", header_only=True)
    verb = "subscribe" if subscribe else "unsubscribe"
    ok, text = await _run_action(ctx, identity, person_id, subscribe)
    if ok:
        log.info("panel %s of person %s by user %s: %s", verb, person_id, identity.user_id, text)
    view = await status_view(ctx, identity, person_id)
    view["notice"] = {"ok": ok, "text": text}
    response = templates.TemplateResponse(request, "partials/panel_status.html", view)
    response.headers["HX-Trigger"] = json.dumps({"pm-snackbar": {"message": text, "ok": ok}})
    return response


async def _run_action(
    ctx: Context, identity: Identity, person_id: int, subscribe: bool
) -> tuple[bool, str]:
    company_id = identity.company_id
    verb = "subscribe" if subscribe else "unsubscribe"
    settings = tenants.get_settings(ctx.store, company_id)
    if not settings.configured:
        return False, "Maileon is not set up yet: an admin has to enter the Maileon API key."
    try:
        raw = await _viewer(ctx, identity).get_person(person_id)
    except ApiError as exc:
        return False, f"Could not {verb}: {exc.message}"
    if raw is None:
        return False, "This person was not found in Pipedrive."
    person = from_pipedrive(raw)
    name = person_label(person)
    if not person.email or not plausible_email(person.email):
        return False, f"Could not {verb} {name}: the person has no valid email address."
    try:
        async with ctx.person_lock(company_id, person_id):
            state = people.get(ctx.store, company_id, person_id)
            message = await contacts.newsletter_action(ctx, settings, state, person, subscribe)
    except ApiError as exc:
        return False, f"Could not {verb} {name}: {exc.message}"
    text = f"{name}: {message}"
    _log_action(ctx.store, identity, person, f"Newsletter panel: {message}")
    return True, text


def _log_action(store: Store, identity: Identity, person: Person, message: str) -> None:
    inst = tenants.get_installation(store, identity.company_id, identity.user_id)
    who = inst.user_name if inst and inst.user_name else f"user {identity.user_id}"
    with store.tx() as db:
        synclog.write(
            db,
            identity.company_id,
            "person",
            str(person.id),
            "ok",
            f"{message} (by {who})",
            subject=person.name[: synclog.MAX_SUBJECT],
        )


SEEN_FOR = 60.0  # seconds a viewer's confirmed sight of a person serves the panel's fragments


def _seen(identity: Identity, person_id: int) -> str:
    return f"panel-seen:{identity.user_id}:{person_id}"


async def viewer_sees(ctx: Context, identity: Identity, person_id: int) -> bool:
    """Pipedrive confirms (or confirmed for the status moments ago) that the viewing user may
    see this person: what the app stored about a person is shown only then."""
    if ctx.cached(identity.company_id, _seen(identity, person_id), SEEN_FOR):
        return True
    try:
        await _read_person(ctx, identity, person_id)
    except Shown:
        return False
    ctx.remember(identity.company_id, _seen(identity, person_id), True, SEEN_FOR)
    return True


def _viewer(ctx: Context, identity: Identity) -> PipedriveClient:
    """Pipedrive as the viewing user sees it (their own authorization and visibility)."""
    ctx.check_gate(identity.company_id, "Pipedrive")
    return ctx.tokens.client(identity.company_id, identity.user_id)


# --- the status -------------------------------------------------------------------------------
async def status_view(ctx: Context, identity: Identity, person_id: int) -> dict[str, Any]:
    company_id = identity.company_id
    settings = tenants.get_settings(ctx.store, company_id)
    view: dict[str, Any] = {
        "person_id": person_id,
        "kind": "",
        "tone": "",
        "headline": "",
        "detail": "",
        "name": "",
        "email": "",
        "known": False,
        "can_subscribe": False,
        "can_unsubscribe": False,
        "doi": settings.doi_enabled,
        "permission_name": PERMISSIONS.get(settings.initial_permission, ""),
        "deals_sync": settings.deals_sync,
        "notice": None,
        "retry": False,
        "outside_rules": "",
    }

    def finish(kind: str, headline: str, detail: str = "", tone: str = "") -> dict[str, Any]:
        view.update(kind=kind, headline=headline, detail=detail, tone=tone)
        return view

    if not settings.configured:
        return finish(
            "not_configured",
            "Maileon is not set up yet",
            "An admin has to enter the Maileon API key in the app's settings.",
            "warn",
        )

    async def lookup(email: str) -> dict[str, Any] | None:
        return await asyncio.wait_for(ctx.maileon(company_id).get_contact(email), STATUS_TIMEOUT)

    # The Maileon lookup of the address this app knows starts together with the Pipedrive
    # read, so the panel costs about one round trip; its result is only used (and anything
    # shown) once Pipedrive has confirmed the person and the address.
    state = people.get(ctx.store, company_id, person_id)
    known_email = state.email if not state.deleted else ""
    early = asyncio.create_task(lookup(known_email)) if known_email else None
    if early is not None:
        await asyncio.sleep(0)  # its request leaves first: Maileon's answer is the long wait
    try:
        person = from_pipedrive(await _read_person(ctx, identity, person_id))
        ctx.remember(company_id, _seen(identity, person_id), True, SEEN_FOR)
        view.update(
            known=True,
            name=person_label(person),
            email=person.email,
            newsletter=newsletter.newsletter_label(person, settings, {}) or "not set",
            synced_at=state.synced_at,
            last_error=state.last_error,
            transactions=recent_transactions(ctx.store, company_id, person_id),
        )
        _check_email(person)
        view["outside_rules"] = await _outside_rules(ctx, settings, person)
        same = early is not None and state.email.lower() == person.email.lower()
        contact = await _maileon_contact(
            early if same and early is not None else lookup(person.email)
        )
        kind, headline, detail, tone = describe(contact, state, person)
        # Only what applies: nothing to unsubscribe without a permission (or a pending
        # confirmation), nothing to subscribe to when subscribed already.
        view["can_subscribe"] = (
            kind in ("not_in_maileon", "no_permission", "unsubscribed", "doi_pending")
            and not view["outside_rules"]
        )
        view["can_unsubscribe"] = kind in ("subscribed", "doi_pending")
        return finish(kind, headline, detail, tone)
    except Shown as shown:
        view["retry"] = shown.retry
        return finish(shown.kind, shown.headline, shown.detail, shown.tone)
    finally:
        if early is not None and not early.done():
            early.cancel()
        elif early is not None and not early.cancelled():
            early.exception()  # retrieved, even when it was not needed


class Shown(Exception):
    """The panel's answer short of a contact's status: a problem or a missing piece."""

    def __init__(
        self, kind: str, headline: str, detail: str, tone: str = "", retry: bool = False
    ) -> None:
        super().__init__(headline)
        self.kind, self.headline, self.detail, self.tone, self.retry = (
            kind,
            headline,
            detail,
            tone,
            retry,
        )


async def _read_person(ctx: Context, identity: Identity, person_id: int) -> dict[str, Any]:
    """The person as the viewing user may see it in Pipedrive."""
    unreachable = "Pipedrive could not be reached"
    try:
        raw = await asyncio.wait_for(_viewer(ctx, identity).get_person(person_id), STATUS_TIMEOUT)
    except ReauthRequired as exc:
        raise Shown("reauth", "Authorize the app again", exc.message, "bad") from None
    except ApiError as exc:
        raise Shown("pipedrive_error", unreachable, exc.message, "bad", retry=True) from None
    except TimeoutError:
        detail = "Pipedrive did not answer in time."
        raise Shown("pipedrive_error", unreachable, detail, "bad", retry=True) from None
    if raw is None:
        raise Shown(
            "no_person",
            "Person not found",
            "This person does not exist in Pipedrive or you cannot see it.",
        )
    return raw


def _check_email(person: Person) -> None:
    if not person.email:
        raise Shown(
            "no_email",
            "No email address",
            "Add an email address to this person in Pipedrive to use the newsletter.",
            "warn",
        )
    if not plausible_email(person.email):
        raise Shown(
            "no_email",
            "Email address not valid",
            f"Maileon cannot use {person.email!r}. Correct it in Pipedrive.",
            "warn",
        )


async def _maileon_contact(lookup: Awaitable[dict[str, Any] | None]) -> dict[str, Any] | None:
    down = "Maileon is unreachable"
    try:
        return await lookup
    except TimeoutError:
        detail = "Maileon did not answer in time. Try again in a moment."
        raise Shown("maileon_down", down, detail, "bad", retry=True) from None
    except TransientError as exc:
        detail = f"{exc.message}. Try again in a moment."
        raise Shown("maileon_down", down, detail, "bad", retry=True) from None
    except ApiError as exc:
        refused = "Maileon refused the request"
        raise Shown("maileon_error", refused, exc.message, "bad", retry=True) from None


async def _outside_rules(ctx: Context, settings: tenants.Settings, person: Person) -> str:
    """Why the person is outside the sync rules (F14), '' when inside or unknown."""
    try:
        return await asyncio.wait_for(
            rules_gate.outside_reason(ctx, settings, person), STATUS_TIMEOUT
        )
    except (ApiError, TimeoutError) as exc:
        log.warning(
            "panel: the sync rules could not be checked for person %s: %s",
            person.id,
            getattr(exc, "message", "timeout"),
        )
        return ""


def describe(
    contact: dict[str, Any] | None, state: PersonState, person: Person
) -> tuple[str, str, str, str]:
    """(kind, headline, detail, tone) of a person's Maileon status, in plain words."""
    email = person.email
    status = (contact or {}).get("standard_fields", {}).get("PERMISSION_STATUS", "")
    if (contact is None and state.maileon_state == "unsubscribed") or status == "unsubscribed":
        return (
            "unsubscribed",
            "Unsubscribed",
            f"{email} unsubscribed from the newsletter; Maileon sends it no newsletters.",
            "bad",
        )
    if contact is None:
        return (
            "not_in_maileon",
            "Not in Maileon",
            f"Maileon has no contact with the address {email}.",
            "",
        )
    permission = int(contact.get("permission") or 1)
    if permission > 1:
        name = PERMISSIONS.get(permission, f"permission {permission}")
        return (
            "subscribed",
            f"Subscribed with permission {name}",
            f"{email} receives newsletters.",
            "ok",
        )
    if state.maileon_state == "pending" or state.newsletter == newsletter.PENDING:
        return (
            "doi_pending",
            "Double opt-in pending",
            f"Maileon sent a confirmation email to {email}; the contact gets permission when "
            "it is confirmed.",
            "warn",
        )
    return (
        "no_permission",
        "No permission",
        f"{email} is a Maileon contact without permission to receive newsletters.",
        "",
    )


def recent_transactions(
    store: Store, company_id: int, person_id: int, limit: int = TRANSACTIONS
) -> list[dict[str, Any]]:
    """The latest deal transactions sent for this person, newest first, ready to show."""
    out = []
    for row in stored_transactions(store, company_id, person_id, limit=limit):
        kind = str(row.get("type") or "")
        at = row.get("sent_at")
        out.append(
            {
                "label": "Deal imported"
                if row.get("imported")
                else TRANSACTION_LABELS.get(kind, kind.replace("_", " ") or "Transaction"),
                "title": str(row.get("title") or ""),
                "deal_id": row.get("deal_id") or "",
                "at": float(at) if isinstance(at, int | float) else None,
            }
        )
    return out
