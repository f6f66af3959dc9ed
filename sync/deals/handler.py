"""Deal → Maileon transaction (F9).

A deal added/updated/deleted sends `pipedrive_deal_added` / `_updated` / `_deleted` for the
primary email of the deal's person, when Deals sync is on. Deal payloads carry only the
person's id, so the person is read with API v2. A delete sends the deal's last state
(`previous`).

A transaction never creates a contact (Maileon's `import` wrapper would, and so bring back a
contact that unsubscribed, which Maileon anonymizes, or one someone deleted). It is sent for the
existing contact; none is sent for a person whose contact unsubscribed. When Maileon has no
contact, the app creates one first (permission NONE, createdByPipedrive) only for a person it
never had in Maileon and whose address Maileon's unsubscription report does not list; a contact
that was there and is gone stays gone. Each case says so in the sync log.

Nothing twice (issue 27): Maileon has no idempotency key for transactions, so each event gets a
stable id (`event_id`), carried in the type's `transaction_id` attribute, and its send is stored
as in flight before the call. A job that finds its event still in flight (the answer was lost:
a timeout, a stop, a crash) asks Maileon for that id first: found, it is done; not found, it
waits until the lost call can no longer be applied (`SETTLE_FACTOR` times the transaction timeout
after it began) and sends again. Where Maileon cannot be asked, the job fails as uncertain for
the admin to check, instead of sending blindly. A send Maileon took is kept as `sent` with a
digest of its content: the same change run again (a crash between that record and the job's
end, an import queueing a deal state a webhook already sent) is not sent twice.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

from clients.errors import ApiError, PermanentError, TransientError
from clients.maileon import PERMISSION_NONE, MaileonClient, TransactionType
from store import people, tenants, transactions
from store.db import now
from store.queue import Job
from sync.deals.content import deal_content
from sync.deals.transaction_types import EVENT_ID, TYPES, ensure_type, forget_type
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.persons.contacts import prepare_contact
from sync.persons.fields import CREATED_BY, person_fields
from sync.persons.person import Person, from_pipedrive, person_label, plausible_email
from sync.rules import gate as rules_gate
from sync.webhook.parse import ref_id

TRANSIENT_WORDS = (
    "temporar",
    "timeout",
    "timed out",
    "try again",
    "unavailable",
    "locked",
    "busy",
    "rate limit",
)
# A send whose answer was lost is resent (when Maileon does not hold it) only this many
# transaction timeouts after it began: by then that call can no longer be applied.
SETTLE_FACTOR = 1.5


def event_id(company_id: int, job: Job) -> str:
    """The deal event's stable id: the same for every attempt of one event (deal, action and
    the deal's update_time), different for each later change."""
    deal_id, _, action = job.entity_id.partition(":")
    digest = hashlib.sha256(job.version.encode()).hexdigest()[:12]
    return f"pd-{company_id}-deal-{deal_id}-{action or 'change'}-{digest}"


def job_entity_id(deal_id: str, action: str) -> str:
    """The queue entity of a deal event.

    The queue keeps one pending job per entity and lets a newer update_time replace its payload.
    Every deal event should send its own transaction, so `create` and `delete` each get their own
    entity (`12:create`, `12:delete`); a burst of `change` events of one deal shares `12:change`
    and coalesces to the latest state, which is what an "updated" transaction should carry. The
    same event delivered twice is stored once (events are unique per company and event id)."""
    return f"{deal_id}:{action}"


async def handle_deal(ctx: Context, job: Job) -> Outcome:
    company_id = job.company_id
    settings = tenants.get_settings(ctx.store, company_id)
    if not settings.deals_sync:
        return Outcome.skipped("Deals sync to Maileon is off")
    if not settings.configured:
        return Outcome.skipped("no Maileon API key is set")
    action = str(job.payload.get("action") or "")
    type_name = TYPES.get(action)
    deal = _deal_state(job)
    if type_name is None or deal is None:
        return Outcome.skipped("the webhook carried no deal data")
    label = deal_label(deal)
    person = await _deal_person(ctx, settings, deal, label)
    if isinstance(person, Outcome):
        return person
    who = person_label(person)

    maileon = ctx.maileon(company_id)
    tx_type = await ensure_type(ctx, maileon, company_id, type_name)
    content = await deal_content(ctx, company_id, deal)
    imported = job.payload.get("raw_action") == "import"  # an open deal the import sent
    key = event_id(company_id, job)
    digest = content_digest(type_name, person.email, content)
    record = partial(
        transactions.record,
        ctx.store,
        company_id=company_id,
        person_id=person.id,
        deal_id=int(deal["id"]),
        type_name=type_name,
        title=str(deal.get("title") or ""),
        event_id=key,
        digest=digest,
        imported=imported,
    )
    previous = transactions.send_state(ctx.store, company_id, key)
    if previous is not None and previous.state == transactions.SENT and previous.digest == digest:
        return Outcome.ok(
            f"{label}: {type_name} for {person_label(person)} was sent to Maileon already"
            " (this change came again); not sent twice"
        )
    if (
        previous is not None
        and previous.state == transactions.SENDING
        and await _held_by_maileon(
            ctx, maileon, company_id, tx_type, key, previous.started_at, label
        )
    ):
        record()
        return Outcome.ok(
            f"{label}: {type_name} for {person_label(person)} was in Maileon already"
            " (an earlier call's answer was lost); not sent again"
        )
    if tx_type.has(EVENT_ID):
        content[EVENT_ID] = key
    send = partial(_send, ctx, maileon, company_id, key, type_name, person.email, content)
    report = await send()
    if _contact_missing(report):
        refusal = await _create_contact_first(ctx, settings, maileon, person)
        if refusal:
            return Outcome.skipped(f"{label}: no transaction: {who} {refusal}")
        report = await send()
    check_report(ctx, company_id, type_name, report)
    record()
    how = "imported (open deal): " if imported else ""
    return Outcome.ok(f"{label}: {how}{type_name} sent to Maileon for {person_label(person)}")


async def _deal_person(
    ctx: Context, settings: tenants.Settings, deal: dict[str, Any], label: str
) -> Person | Outcome:
    """The deal's contact person as Pipedrive has it now, or why the deal sends nothing."""
    company_id = settings.company_id
    person_id = ref_id(deal.get("person_id"))
    if person_id is None:
        return Outcome.skipped(f"{label}: the deal has no contact person")
    raw_person = await ctx.pipedrive(company_id).get_person(person_id)
    if raw_person is None:
        return Outcome.skipped(f"{label}: its person #{person_id} no longer exists in Pipedrive")
    person = from_pipedrive(raw_person)
    who = person_label(person)
    if not person.email:
        return Outcome.skipped(f"{label}: {who} has no email address")
    if not plausible_email(person.email):
        return Outcome.skipped(f"{label}: the email address {person.email!r} of {who} is not valid")
    outside = await rules_gate.outside_reason(ctx, settings, person)  # sync rules (F14)
    if outside:
        return Outcome.skipped(
            f"{label}: no transaction: {who} is outside the sync rules ({outside})"
        )
    if people.get(ctx.store, company_id, person.id).maileon_state == "unsubscribed":
        return Outcome.skipped(
            f"{label}: no transaction: {who} unsubscribed in Maileon (a transaction would "
            "bring the contact back)"
        )
    return person


def content_digest(type_name: str, email: str, content: dict[str, Any]) -> str:
    """What one transaction says, for recognising the same change run again. Not the event id
    alone: two changes within one second of update_time share it but may say different
    things, and the later one must still go."""
    raw = json.dumps([type_name, email.lower(), content], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


async def _send(
    ctx: Context,
    maileon: MaileonClient,
    company_id: int,
    key: str,
    type_name: str,
    email: str,
    content: dict[str, Any],
) -> dict[str, Any]:
    """One call, stored as in flight before it goes; an answer that says "not queued" means
    Maileon holds nothing of it, so the event is no longer in flight."""
    transactions.sending(ctx.store, company_id, key)
    report = await maileon.send_transaction(
        type_name, email=email, content=content, answer_within=ctx.config.transaction_timeout
    )
    if report.get("queued") not in (True, "true"):
        transactions.not_sent(ctx.store, company_id, key)
    return report


def _contact_missing(report: dict[str, Any]) -> bool:
    message = str(report.get("message") or "").lower()
    return (
        report.get("queued") not in (True, "true")
        and "contact" in message
        and ("not found" in message or "not exist" in message)
    )


async def _create_contact_first(
    ctx: Context, settings: tenants.Settings, maileon: MaileonClient, person: Person
) -> str:
    """Create the missing contact of a deal's person (permission NONE, createdByPipedrive),
    under the person's lock; '' when the transaction may go, else why it may not."""
    company_id = settings.company_id
    async with ctx.person_lock(company_id, person.id):
        state = people.get(ctx.store, company_id, person.id)
        if await maileon.get_contact(person.email) is not None:
            return ""  # there after all (created meanwhile): the transaction is sent again
        if state.maileon_state == "unsubscribed":
            return "unsubscribed in Maileon (a transaction would bring the contact back)"
        moved = state.email.lower() != person.email.lower()
        if state.maileon_state and not state.deleted and moved and settings.contacts_sync:
            raise TransientError(  # the person's own job moves the contact to the new address
                "the person's email address changed and its Maileon contact is not moved yet",
                service="Maileon",
            )
        if state.maileon_state and not state.deleted and not moved:
            return (
                "has no Maileon contact any more (deleted in Maileon, or unsubscribed and "
                "anonymized); the app does not re-create it"
            )
        if await maileon.ever_unsubscribed(person.email):
            return (
                f"is not in Maileon and the address {person.email} unsubscribed there before; "
                "the app does not re-create the contact"
            )
        fields = await person_fields(ctx, company_id)
        standard, custom = await prepare_contact(ctx, maileon, settings, person, fields)
        created = await maileon.create_contact(
            person.email,
            permission=PERMISSION_NONE,
            external_id=str(person.id),
            standard_fields=standard,
            custom_fields={**custom, CREATED_BY: True},
        )
        if not state.maileon_state or state.deleted or moved:
            state.email, state.deleted = person.email, False
            state.maileon_state = "none" if created else "found"
            state.app_created = 1 if created else 0
            people.save(ctx.store, state)
    return ""


async def _held_by_maileon(
    ctx: Context,
    maileon: MaileonClient,
    company_id: int,
    tx_type: TransactionType,
    key: str,
    started_at: float,
    label: str,
) -> bool:
    """An earlier call for this event got no answer: True when Maileon holds the event; False
    when it does not and that call can no longer be applied (send again). Raises to wait
    (TransientError) or, when Maileon cannot tell, to fail as uncertain (PermanentError)."""
    uncertain = (
        f"{label}: uncertain whether Maileon holds the {tx_type.name} transaction (event"
        f" {key}): an earlier call got no answer, and "
    )
    if not tx_type.has(EVENT_ID):
        transactions.uncertain(ctx.store, company_id, key)
        raise PermanentError(
            uncertain + f"the type has no {EVENT_ID} attribute to look it up by. Check the"
            " contact's transactions in Maileon; Retry sends it again.",
            service="Maileon",
        )
    try:
        found = await maileon.find_transaction(tx_type.id, key)
    except TransientError:
        raise
    except ApiError as exc:
        transactions.uncertain(ctx.store, company_id, key)
        raise PermanentError(
            uncertain + f"Maileon's look-up failed ({exc.message}). Check the contact's"
            " transactions in Maileon; Retry sends it again.",
            service="Maileon",
        ) from None
    if found is not None:
        return True
    wait = started_at + SETTLE_FACTOR * ctx.config.transaction_timeout - now()
    if wait > 0:
        raise TransientError(
            f"{label}: Maileon does not hold the {tx_type.name} transaction yet; an earlier"
            f" call may still be applied, so it is looked up again before it is sent",
            retry_after=wait,
        )
    return False


def _deal_state(job: Job) -> dict[str, Any] | None:
    """The deal as the transaction should show it: the last state for a delete (v2 `data` is
    null then), the new state otherwise (v2 `previous` of a change holds only changed fields)."""
    payload = job.payload
    if payload.get("action") == "delete":
        deal = payload.get("previous") or payload.get("data")
    else:
        deal = payload.get("data")
    if not isinstance(deal, dict):
        return None
    return {**deal, "id": int(job.entity_id.split(":", 1)[0])}  # the validated id


def deal_label(deal: dict[str, Any]) -> str:
    title = str(deal.get("title") or "").strip()
    return f'deal "{title}" (#{deal["id"]})' if title else f"deal #{deal['id']}"


def check_report(ctx: Context, company_id: int, type_name: str, report: dict[str, Any]) -> None:
    """Maileon answers 2xx even for transactions it did not take; `queued` tells.

    Retried only where another attempt can succeed: the type is unknown (deleted in Maileon
    since it was cached: forgotten here, so the retry re-creates it); the contact was not found
    (the import creates missing contacts, so it was deleted meanwhile); or the message sounds
    temporary. Anything else (an unknown or invalid attribute, an invalid address) would fail
    the same way again, so the job fails with Maileon's message for the user to act on.
    """
    if report.get("queued") in (True, "true"):
        return
    message = str(report.get("message") or "no reason given")[:300]
    lowered = message.lower()
    reason = f"Maileon did not accept the {type_name} transaction: {message}"
    if "type" in lowered and "not found" in lowered:
        forget_type(ctx, company_id, type_name)
        raise TransientError(reason, service="Maileon")
    if ("contact" in lowered and "not found" in lowered) or any(
        word in lowered for word in TRANSIENT_WORDS
    ):
        raise TransientError(reason, service="Maileon")
    raise PermanentError(reason, service="Maileon")
