"""Maileon → Pipedrive (F10): unsubscribes and DOI confirmations set the person's Newsletter
field, through Maileon webhooks and a periodic reconciliation of the unsubscription report.

* Registration: on settings save (`setup.configure`) the app registers one Maileon webhook per
  event in `EVENTS`, at `{APP_URL}/webhooks/maileon/{company_id}/{event}`, with URL parameters
  `email` and `eid` (the contact's email and external id = Pipedrive person id) and `token` (the
  per-company secret: Maileon documents no signature and no Basic auth, so the token in the URL
  is the only credential). Ours are found by URL path; wrong or duplicate ones are replaced.
* Intake (`web.webhooks.maileon`): token checked in constant time, `parse_event` reads the JSON
  body and/or URL parameters, `record` stores event + job in one transaction.
* Worker (`handle_maileon_event`): finds the persons this app synced (by external id, and by
  email — consent belongs to the address), reads the person's current Newsletter value and writes
  Unsubscribed / Subscribed with `contacts.set_newsletter`, which records the value before
  writing it, so the echoing Pipedrive webhook is no transition and, its data unchanged
  (`contacts.data_fingerprint`), costs no Maileon call. A DOI confirmation is the
  contact's own explicit consent, so it sets Subscribed even after an earlier unsubscribe, but
  only once Maileon agrees: the contact's permission is read first and must be DOI or DOI+
  (the webhook's only credential is a URL token); otherwise a log line and no change. An
  unsubscribe is never undone by later CRM edits (only a change of the field to Subscribed).
* Reconciliation (`reconcile`, periodic): reads `/reports/unsubscriptions` from the stored
  cursor up to a little before now, and feeds unsubscriptions of known persons that are not yet
  unsubscribed through the same job, with the same dedupe key as their webhook.

UNCONFIRMED in the reference, with the tolerant reading chosen here: the body Maileon posts is a
flat JSON object keyed by the selected field names (we also accept no body, URL parameters only,
and upper-case keys); a `+` in a URL-parameter email arrives as a space (turned back into `+`);
webhook and report timestamps share the `yyyy-mm-dd hh:mm:ss` form, so the same unsubscription
gets the same dedupe key from both paths (when they differ, the handler's "already unsubscribed"
check still keeps the second arrival a no-op).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from clients.errors import ApiError, NotFound
from clients.maileon import PERMISSIONS, MaileonClient
from clients.maileon_webhooks import hook_id, hook_url, webhook_matches
from store import cursors, people, queue, tenants
from store.db import Store
from store.people import PersonState
from store.queue import Job
from store.tenants import Settings
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.persons.fields import person_fields
from sync.persons.newsletter import SUBSCRIBED, UNSUBSCRIBED, newsletter_label, set_newsletter
from sync.persons.person import from_pipedrive
from sync.webhook.parse import normalize_time, parse_id
from sync.wording import plural

log = logging.getLogger("pipedrive_maileon.syncback")

EVENTS = ("unsubscription", "doi", "bounce")  # bounce: F15, handled by sync/syncback/engagement
REMOVE_TIMEOUT = 5.0  # seconds the uninstall waits for Maileon at most
JOB_KIND = "maileon_event"
RECONCILE = "periodic.reconcile"
CURSOR = "maileon_unsubscriptions"
PAGE_SIZE = 1000
MAX_PAGES = 500
RECONCILE_LAG = 120.0  # seconds (times periodic_scale) the report may trail behind Maileon's clock
TARGETS = {"unsubscription": (UNSUBSCRIBED, "unsubscribed"), "doi": (SUBSCRIBED, "subscribed")}
WHAT = {"unsubscription": "unsubscribe", "doi": "DOI confirmation"}
_SPACE = re.compile(r"\s+")


# --- registration ------------------------------------------------------------------------------
def webhook_path(company_id: int, event: str) -> str:
    return f"/webhooks/maileon/{company_id}/{event}"


def webhook_spec(ctx: Context, settings: Settings, event: str) -> dict[str, Any]:
    def param(name: str, standard: str | None = None, value: str | None = None) -> dict[str, Any]:
        return {
            "name": name,
            "standard_contact_field": standard,
            "custom_contact_field": None,
            "custom_value": value,
        }

    return {
        "url": ctx.config.app_url + webhook_path(settings.company_id, event),
        "event": event,
        "urlParams": [
            param("email", "email"),
            param("eid", "external_id"),
            param("token", value=settings.maileon_webhook_token),
        ],
        "customFields": [],
        "standardFields": ["email", "external_id"],
        "eventFields": ["timestamp", "msg_id"],
    }


async def ensure_webhooks(
    ctx: Context, settings: Settings, maileon: MaileonClient | None = None
) -> int:
    """Idempotent: list first; keep one current webhook per event, replace stale or duplicate
    ones of ours (same URL path), create what is missing. Returns how many were created."""
    if not settings.maileon_webhook_token:
        settings = tenants.ensure_webhook_credentials(ctx.store, settings.company_id)
    maileon = maileon or ctx.maileon(settings.company_id)
    hooks = await maileon.list_webhooks()
    created = 0
    for event in EVENTS:
        wanted = webhook_spec(ctx, settings, event)
        path = webhook_path(settings.company_id, event)
        ours = [h for h in hooks if urlsplit(hook_url(h)).path == path]
        keep = next((h for h in ours if webhook_matches(h, wanted)), None)
        for hook in ours:
            if hook is not keep and (number := hook_id(hook)) is not None:
                await maileon.delete_webhook(number)
        if keep is None:
            await maileon.create_webhook(wanted)
            created += 1
    return created


async def setup_maileon(ctx: Context, settings: Settings) -> list[str]:
    """Called by `setup.configure` when a Maileon key is set (after `ensure_periodic`, which
    queues the reconcile job): webhooks and the reconciliation cursor. A registration failure
    does not fail the save: the reconciliation still brings unsubscribes back (more slowly),
    and the note tells the admin."""
    start_cursor(ctx.store, settings.company_id)
    try:
        created = await ensure_webhooks(ctx, settings)
    except ApiError as exc:
        return [
            f"Maileon webhooks could not be registered ({exc.message}); unsubscribes reach "
            "Pipedrive through the periodic check only"
        ]
    return [plural(created, "Maileon webhook") + " registered"] if created else []


async def remove_webhooks(ctx: Context, company_id: int, user_id: int) -> None:
    """Before an uninstall wipes the company (its last installation goes): delete our Maileon
    webhooks with the stored key. Best effort, bounded in time: nothing here blocks the wipe."""
    left = tenants.other_installations(ctx.store, company_id, user_id)
    if left:
        return

    async def delete_ours() -> None:
        settings = tenants.get_settings(ctx.store, company_id)
        if not settings.maileon_api_key:
            return
        maileon = ctx.maileon(company_id, api_key=settings.maileon_api_key)
        for hook in await maileon.list_webhooks():
            path = urlsplit(hook_url(hook)).path
            number = hook_id(hook)
            if path.startswith(f"/webhooks/maileon/{company_id}/") and number is not None:
                await maileon.delete_webhook(number)

    try:
        await asyncio.wait_for(delete_ours(), REMOVE_TIMEOUT)
    except Exception as exc:  # best effort by design; the wipe goes on
        log.warning(
            "company %s: Maileon webhooks not removed on uninstall (%s)",
            company_id,
            exc.message if isinstance(exc, ApiError) else type(exc).__name__,
        )


# --- intake -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MaileonEvent:
    event: str
    email: str = ""
    external_id: str = ""
    timestamp: str = ""
    msg_id: str = ""

    @property
    def person_ref(self) -> str:
        """Job entity: the Pipedrive person id when the external id is one, else the address."""
        if parse_id(self.external_id) is not None:
            return f"pd:{self.external_id}"
        if self.email:
            return f"email:{self.email.lower()}"
        return "anonymous"

    def dedupe_key(self, received: float) -> str:
        """Same for the webhook and the report line of one unsubscription; events with neither
        timestamp nor msg_id dedupe within the hour (a repeat is harmless anyway)."""
        who = self.external_id or self.email.lower() or "-"
        when = normalize_time(self.timestamp) or self.timestamp
        moment = (
            f"{when}|{self.msg_id}"
            if (when or self.msg_id)
            else f"received:{int(received // 3600)}"
        )
        digest = hashlib.sha256(f"{self.event}|{who}|{moment}".encode()).hexdigest()[:40]
        return f"ml:{digest}"

    def job_payload(self, source: str) -> dict[str, Any]:
        return {
            "event": self.event,
            "email": self.email,
            "external_id": self.external_id,
            "timestamp": self.timestamp,
            "msg_id": self.msg_id,
            "source": source,
        }


def clean_email(value: Any) -> str:
    """Whitespace inside an address can only be a `+` decoded as a space (Maileon does not
    percent-encode `+` in URL parameters). Values without `@` (anonymized) count as empty."""
    text = _SPACE.sub("+", str(value or "").strip())
    return text[:254] if "@" in text else ""


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value).strip()
    return "" if text.lower() in ("null", "none") else text[:200]


def _pick(body: Mapping[str, Any], *names: str) -> Any:
    lowered = {str(k).lower(): v for k, v in body.items()}
    for name in names:
        value = lowered.get(name)
        if value not in (None, ""):
            return value
    return None


def parse_event(event: str, query: Mapping[str, str], body: Mapping[str, Any]) -> MaileonEvent:
    """Identifiers from the JSON body (exact) or else the URL parameters (`+` quirk)."""
    email = clean_email(_pick(body, "email")) or clean_email(query.get("email"))
    eid = (
        _text(_pick(body, "external_id", "eid"))
        or _text(query.get("eid"))
        or _text(query.get("external_id"))
    )
    return MaileonEvent(
        event=event,
        email=email,
        external_id=eid,
        timestamp=_text(_pick(body, "timestamp")) or _text(query.get("timestamp")),
        msg_id=_text(_pick(body, "msg_id")) or _text(query.get("msg_id")),
    )


def record(
    store: Store, company_id: int, ev: MaileonEvent, source: str, payload: dict[str, Any]
) -> bool:
    """Event + job in one transaction; False for a duplicate."""
    version = normalize_time(ev.timestamp) or normalize_time(time.time())
    return queue.record_event(
        store,
        company_id=company_id,
        source="maileon",
        dedupe_key=ev.dedupe_key(time.time()),
        kind=f"maileon.{ev.event}",
        entity_id=ev.person_ref,
        payload=payload,
        job_kind=JOB_KIND,
        job_payload=ev.job_payload(source),
        version=version,
    )


# --- worker -------------------------------------------------------------------------------------
def find_persons(store: Store, company_id: int, external_id: str, email: str) -> list[PersonState]:
    """Persons this app synced that the Maileon contact stands for: the one named by the
    external id, and every person with that address."""
    found: dict[int, PersonState] = {}
    pid = parse_id(external_id)
    if pid is not None and people.is_active(store, company_id, pid):
        found[pid] = people.get(store, company_id, pid)
    if email:
        for state in people.by_email(store, company_id, email):
            found.setdefault(state.person_id, state)
    return list(found.values())


def _who(email: str, external_id: str) -> str:
    if email and external_id:
        return (
            f"{email} (Pipedrive person #{external_id})"
            if parse_id(external_id) is not None
            else f"{email} (external id {external_id})"
        )
    return email or f"external id {external_id}"


async def handle_maileon_event(ctx: Context, job: Job) -> Outcome:
    payload = job.payload
    event = str(payload.get("event") or "")
    if event not in TARGETS:
        return Outcome.skipped(f"Maileon event {event!r} is not synced to Pipedrive")
    what = WHAT[event]
    email, eid = str(payload.get("email") or ""), str(payload.get("external_id") or "")
    if not email and not eid:
        if ctx.cached(job.company_id, "maileon_event_shape_warned", 86400.0) is None:
            ctx.remember(job.company_id, "maileon_event_shape_warned", True, 86400.0)
            log.warning(
                "company %s: a Maileon %s call carried neither an email nor an "
                "external id (UNCONFIRMED webhook shape, or an anonymized contact); "
                "not applied",
                job.company_id,
                event,
            )
        return Outcome.skipped(
            f"Maileon sent a {what} without email address or external id "
            "(the contact was probably anonymized already); nothing to "
            "update in Pipedrive"
        )
    settings = tenants.get_settings(ctx.store, job.company_id)
    target, maileon_state = TARGETS[event]
    if not settings.newsletter_field_key or target not in settings.newsletter_options:
        return Outcome.skipped(
            f"{what} for {_who(email, eid)} not applied: the Newsletter "
            "field is not set up yet (save the settings once)"
        )
    states = find_persons(ctx.store, job.company_id, eid, email)
    if not states:
        return Outcome.skipped(
            f"{what} for {_who(email, eid)}: no Pipedrive person synced by "
            "this app has this address or id"
        )
    if event == "doi":
        doubt = await _doi_doubt(ctx, job.company_id, email or states[0].email)
        if doubt:
            log.warning(
                "company %s: a DOI confirmation webhook was not applied: %s",
                job.company_id,
                doubt,
            )
            return Outcome.skipped(
                f"{what} for {_who(email, eid)} not applied: {doubt}; the Newsletter field "
                "is left as it is"
            )
    done: list[str] = []
    skipped: list[str] = []
    already: list[str] = []
    for state in states:
        result, text = await _apply(ctx, settings, state, target, maileon_state)
        {"ok": done, "skipped": skipped, "already": already}[result].append(text)
    via = " (found by the periodic check)" if payload.get("source") == "reconcile" else ""
    if done:
        return Outcome.ok(f"Maileon {what}{via}: " + "; ".join(done + skipped))
    if skipped:
        return Outcome.skipped(f"Maileon {what}: " + "; ".join(skipped))
    return Outcome.quiet(f"Maileon {what}: " + "; ".join(already))


async def _doi_doubt(ctx: Context, company_id: int, email: str) -> str:
    """Why a DOI confirmation is not believed ('' when Maileon agrees). The webhook carries
    only a URL token, so the contact's permission is read from Maileon: only DOI or DOI+ on a
    contact that is not unsubscribed makes the person Subscribed."""
    if not email:
        return "the Maileon contact's address is unknown, so its permission cannot be read"
    contact = await ctx.maileon(company_id).get_contact(email)
    if contact is None:
        return f"Maileon has no contact {email}"
    if contact["standard_fields"].get("PERMISSION_STATUS") == "unsubscribed":
        return f"Maileon shows {email} unsubscribed"
    permission = int(contact["permission"])
    if permission not in (4, 5):
        return (
            f"Maileon shows {email} with permission {PERMISSIONS.get(permission, permission)}, "
            "not a confirmed double opt-in"
        )
    return ""


async def _apply(
    ctx: Context, settings: Settings, state: PersonState, target: str, maileon_state: str
) -> tuple[str, str]:
    """Write the Newsletter value unless Pipedrive shows it already. Idempotent."""
    async with ctx.person_lock(settings.company_id, state.person_id):
        state = people.get(ctx.store, settings.company_id, state.person_id)  # fresh, locked
        return await _apply_locked(ctx, settings, state, target, maileon_state)


async def _apply_locked(
    ctx: Context, settings: Settings, state: PersonState, target: str, maileon_state: str
) -> tuple[str, str]:
    label = f"person #{state.person_id}"
    raw = await ctx.pipedrive(settings.company_id).get_person(state.person_id)
    if raw is None:
        return "skipped", f"{label} no longer exists in Pipedrive"
    person = from_pipedrive(raw)
    label = f"{person.name or label} (#{person.id})"
    fields = await person_fields(ctx, settings.company_id)
    current = newsletter_label(person, settings, fields)
    state.maileon_state = maileon_state
    if current == target:
        state.newsletter = current
        people.save(ctx.store, state)
        return "already", f"{label}: Newsletter was already {target}"
    try:
        await set_newsletter(ctx, settings, state, target)
    except NotFound:
        return "skipped", f"{label} was deleted in Pipedrive"
    return "ok", f"{label}: Newsletter set to {target}"


# --- reconciliation -----------------------------------------------------------------------------
def _now_ms() -> int:
    return int(time.time() * 1000)


def get_cursor(store: Store, company_id: int) -> int | None:
    value = cursors.get(store, company_id, CURSOR)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def save_cursor(store: Store, company_id: int, value: int) -> None:
    cursors.put(store, company_id, CURSOR, str(value))


def start_cursor(store: Store, company_id: int) -> None:
    """Reconcile from the moment the webhooks were first registered (kept across key changes
    and restarts)."""
    cursors.put_if_missing(store, company_id, CURSOR, str(_now_ms()))


def _needs_unsubscribe(store: Store, company_id: int, ev: MaileonEvent) -> bool:
    return any(
        s.maileon_state != "unsubscribed" or s.newsletter != UNSUBSCRIBED
        for s in find_persons(store, company_id, ev.external_id, ev.email)
    )


async def reconcile(ctx: Context, job: Job) -> Outcome:
    """Unsubscriptions since the last run that no webhook brought (wrap with @periodic)."""
    company_id = job.company_id
    settings = tenants.get_settings(ctx.store, company_id)
    if not settings.configured:
        return Outcome.quiet("no Maileon API key; nothing to reconcile")
    maileon = ctx.maileon(company_id)
    healed = ""
    try:
        if await ensure_webhooks(ctx, settings, maileon):
            healed = "; missing Maileon webhooks re-registered"
    except ApiError as exc:
        healed = f"; Maileon webhooks could not be checked ({exc.message})"
    since = get_cursor(ctx.store, company_id)
    until = _now_ms() - int(RECONCILE_LAG * ctx.config.periodic_scale * 1000)
    if since is None:
        save_cursor(ctx.store, company_id, until)
        return Outcome.quiet("first reconciliation: watching unsubscriptions from now on")
    found = 0
    if until > since:
        for page in range(1, MAX_PAGES + 1):
            items = await maileon.unsubscriptions(
                from_ms=since, to_ms=until, page_index=page, page_size=PAGE_SIZE
            )
            for item in items:
                ev = MaileonEvent(
                    "unsubscription",
                    email=clean_email(item.get("email")),
                    external_id=_text(item.get("external_id")),
                    timestamp=item.get("timestamp", ""),
                    msg_id=item.get("msg_id", ""),
                )
                if (
                    (ev.email or ev.external_id)
                    and _needs_unsubscribe(ctx.store, company_id, ev)
                    and record(ctx.store, company_id, ev, "reconcile", {"report": item})
                ):
                    found += 1
            if len(items) < PAGE_SIZE:
                break
        save_cursor(ctx.store, company_id, until)
    if found:
        return Outcome.ok(
            f"periodic check found {plural(found, 'Maileon unsubscribe')} no "
            f"webhook had delivered; they are being applied{healed}"
        )
    if healed.startswith("; missing"):
        return Outcome.ok(healed[2:])
    return Outcome.quiet("no missed Maileon unsubscribes" + healed)
