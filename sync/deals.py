"""Deal → Maileon transaction (F9).

A deal added/updated/deleted sends `pipedrive_deal_added` / `_updated` / `_deleted` for the
primary email of the deal's person, when Deals sync is on. Deal payloads carry only the
person's id, so the person is read with API v2. A delete sends the deal's last state
(`previous`). The contact is referenced through Maileon's `import` wrapper with permission NONE
(1): a missing contact is created (with external_id = person id) but never subscribed, and an
existing contact keeps its permission.
"""

from __future__ import annotations

from typing import Any

from clients.errors import PermanentError, TransientError
from clients.maileon import PERMISSION_NONE
from store import tenants, transactions
from store.queue import Job
from sync import rules_gate
from sync.contacts import person_label
from sync.context import Context
from sync.deal_content import deal_content
from sync.intake import ref_id
from sync.outcome import Outcome
from sync.persons import from_pipedrive, plausible_email
from sync.transaction_types import TYPES, ensure_type, forget_type

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
    person_id = ref_id(deal.get("person_id"))
    if person_id is None:
        return Outcome.skipped(f"{label}: the deal has no contact person")
    raw_person = await ctx.pipedrive(company_id).get_person(person_id)
    if raw_person is None:
        return Outcome.skipped(f"{label}: its person #{person_id} no longer exists in Pipedrive")
    person = from_pipedrive(raw_person)
    if not person.email:
        return Outcome.skipped(f"{label}: {person_label(person)} has no email address")
    if not plausible_email(person.email):
        return Outcome.skipped(
            f"{label}: the email address {person.email!r} of {person_label(person)} is not valid"
        )
    outside = await rules_gate.outside_reason(ctx, settings, person)  # sync rules (F14)
    if outside:
        return Outcome.skipped(
            f"{label}: no transaction: {person_label(person)} is outside the sync rules ({outside})"
        )

    maileon = ctx.maileon(company_id)
    await ensure_type(ctx, maileon, company_id, type_name)
    content = await deal_content(ctx, company_id, deal)
    report = await maileon.send_transaction(
        type_name,
        email=person.email,
        external_id=str(person.id),
        permission=PERMISSION_NONE,
        content=content,
    )
    check_report(ctx, company_id, type_name, report)
    imported = job.payload.get("raw_action") == "import"  # an open deal the import sent
    transactions.record(
        ctx.store,
        company_id=company_id,
        person_id=person.id,
        deal_id=int(deal["id"]),
        type_name=type_name,
        title=str(deal.get("title") or ""),
        imported=imported,
    )
    how = "imported (open deal): " if imported else ""
    return Outcome.ok(f"{label}: {how}{type_name} sent to Maileon for {person_label(person)}")


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
    return {**deal, "id": deal.get("id") or job.entity_id.split(":", 1)[0]}


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
