"""Import existing contacts (F12): all Pipedrive persons into Maileon, each page read once.
The engine; its storage is store/imports.py (and store/runs.py), the card that shows it
web/imports.py.

An import is a row in `imports` (phase, cursor, counters) driven by `import` jobs in the durable
queue, **one page or one batch per job**, run by the runner it shares with the sync-rules runs
(sync/runs/paged.py: state check, step, one transaction with the next job, Resume and Cancel),
in two phases:

- *reading*: each job reads one page of persons (API v2, cursor, 500 per page, organization
  names in batches), prepares their contacts and stages them in `import_rows` (numbered by
  `seq`), saving the next cursor, the count read and the job for the next page in the same
  transaction. A restart resumes at the saved cursor; a page is never staged twice (a person
  is staged at most once per import). The card shows the persons read so far. While a page
  is read, the job also sends the next 1,000 staged rows once that many wait (see sending), so
  reading and writing overlap and at most a batch and a page wait staged.
- *sending*: the total is now known. Each job sends the next 1,000 staged rows to Maileon with
  one `POST /contacts` synchronize per permission, then saves the last sent `seq`, the
  counters, the persons' state and the next job in one transaction. A crash in the middle of a
  batch re-sends only that batch, which is harmless (synchronize is an upsert and the counters
  are saved with `sent_seq`). The card shows done/total.

Then, if asked, the open deals are queued as transactions, one deals page per job. For N
persons that is ⌈N/500⌉ Pipedrive person list calls (10 tokens each) and ⌈N/1000⌉ Maileon
synchronize calls per permission present. Memory holds one page and one batch at a time.

A 429 (or any transient error) reschedules only that job with the wait Pipedrive asked for
(Retry-After / x-ratelimit-reset), through the worker — no busy loop; a job that keeps failing
ends as a failed job in the sync log (the import shows as stopped, with Resume and Cancel).
Cancel is the run's state, checked before each page or batch; one import runs at a time per
company. The staged rows are deleted when the sending ends, on cancel, and with the company
(foreign key). A finished import's counts are its sync-log line (web/run_words.py words them).

Skipped with a reason: no or invalid email, an email already staged for another person, a
contact unsubscribed in Maileon, a person a webhook synced with a newer update time after it
was read ("updated meanwhile by a webhook", no error), or deleted meanwhile.

Consent: a contact the import creates gets permission NONE unless the Newsletter field said
Subscribed and DOI is off (then the initial permission); with DOI on, imports never start a
double opt-in. A contact that exists in Maileon keeps its permission and its
createdByPipedrive: each batch first creates only the new contacts (`sync_mode=2`), then
updates the data of existing ones (`sync_mode=1`, `override_permission=false`). Maileon is told
never to re-import unsubscribed contacts. The person state is saved
(email, update time, Newsletter value, data fingerprint) so later webhooks send only changes.
Maileon's synchronize report says how many contacts were unsubscribed but not which
(UNCONFIRMED shape, read tolerantly); a batch with such contacts leaves its subscribed persons
in state 'none' rather than claim a subscription.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from clients.errors import PermanentError
from clients.maileon import PERMISSION_NONE, MaileonClient
from store import imports, people, tenants
from store.people import PersonState
from store.queue import Job
from store.synclog import MAX_MESSAGE
from store.tenants import Settings
from sync.engine.context import Context
from sync.persons import field_mapping
from sync.persons.contacts import contact_fields, data_fingerprint, ensure_maileon_fields
from sync.persons.fields import CREATED_BY, person_fields
from sync.persons.newsletter import SUBSCRIBED, newsletter_label
from sync.persons.organizations import organization_names
from sync.persons.person import Person, from_pipedrive, plausible_email
from sync.rules import gate as rules_gate
from sync.runs import paged
from sync.runs.paged import Step
from sync.webhook.parse import normalize_time

log = logging.getLogger("pipedrive_maileon.import")

PAGE_SIZE = 500  # one Pipedrive page (API v2 maximum)
SEND_BATCH = 1000  # contacts per Maileon synchronize call (the simulator refuses more)

NO_EMAIL = "no email address"
BAD_EMAIL = "email address not valid"
SAME_EMAIL = "same email address as another person"
UNSUBSCRIBED = "unsubscribed in Maileon (not re-imported)"
NOT_SYNCED = "not in Maileon (a re-send adds nobody)"
UPDATED_MEANWHILE = "updated meanwhile by a webhook"
DELETED_MEANWHILE = "deleted meanwhile in Pipedrive"
UNNAMED_REFUSAL = "not confirmed: Maileon refused contacts of its batch without naming them"
MAILEON_CODES = {
    1: "refused by Maileon: external id missing",
    2: NO_EMAIL,
    3: BAD_EMAIL,
    4: "refused by Maileon: duplicate external id",
    5: SAME_EMAIL,
}


# --- the job -----------------------------------------------------------------------------------
@dataclass
class BatchResult:
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    states: list[PersonState] = field(default_factory=list)


async def _step(ctx: Context, job: Job, row: dict[str, Any]) -> Step:
    """One page (reading, deals) or one batch (sending) of an import."""
    settings = tenants.get_settings(ctx.store, job.company_id)
    if not settings.configured:
        raise PermanentError("no Maileon API key is set")
    if row["phase"] == "reading":
        return await _read_page(ctx, job, row, settings)
    if row["phase"] == "sending":
        return await _send_batch(ctx, job, row, settings)
    if row["phase"] == "deals":
        return await _deals_page(ctx, job, row)
    return _step_of(job, row, {"phase": "finished"})


def _after_persons(row: dict[str, Any], settings: Settings) -> str:
    return "deals" if row["include_deals"] and settings.deals_sync else "finished"


def _step_of(
    job: Job,
    row: dict[str, Any],
    changes: dict[str, Any],
    staged: list[tuple[Any, ...]] | None = None,
    states: list[PersonState] | None = None,
    deals: list[dict[str, Any]] | None = None,
) -> Step:
    """One step for the runner (sync/runs/paged.py): the import's changes, the person states
    (kept even after a cancel), the staged rows and queued deals, and, once finished, what the
    import did."""
    phase = changes.get("phase", row["phase"])
    if phase == "finished":
        changes["state"] = "done"
    sent = states or []
    return Step(
        changes,
        always=lambda db: people.save_all(db, sent, merge=True),  # read before Maileon answered
        then=imports.step_writes(
            job.company_id, int(row["id"]), phase, staged or [], _deal_jobs(deals or [])
        ),
        facts=finished_facts({**row, **changes}) if phase == "finished" else None,
    )


handle_import = paged.runner(imports.TABLE, _step)


async def _read_page(ctx: Context, job: Job, row: dict[str, Any], settings: Settings) -> Step:
    """Phase 1: read one page of persons and stage their prepared contacts. Meanwhile, once a
    full batch is staged, send it (the reading and the writing overlap; what waits is in
    `import_rows`, at most a batch and a page of it, not in memory)."""
    unsent = (row["counted"] or 0) - (row["sent_seq"] or 0)
    batch = (
        imports.rows_after(ctx.store, row["id"], row["sent_seq"], SEND_BATCH)
        if unsent >= SEND_BATCH
        else []
    )
    (staged, next_cursor, last_seq), sent = await asyncio.gather(
        _stage_page(ctx, job, row, settings),
        send_batch(
            ctx, settings, batch, started_at=row["started_at"], synced_only=bool(row["resend"])
        ),
    )
    changes: dict[str, Any] = {"cursor": next_cursor, "counted": last_seq}
    if batch:
        changes.update(_sent_changes(row, batch, sent))
    if not next_cursor:
        changes.update(phase="sending", total=last_seq, cursor=None)
        if not last_seq:  # no persons at all
            changes["phase"] = _after_persons(row, settings)
    return _step_of(job, row, changes, staged=staged, states=sent.states)


async def _stage_page(
    ctx: Context, job: Job, row: dict[str, Any], settings: Settings
) -> tuple[list[tuple[Any, ...]], str | None, int]:
    """Read the page at the import's cursor: its rows to stage, the next cursor, the last seq."""
    client = ctx.pipedrive(job.company_id)
    import_id = int(row["id"])
    key = (job.company_id, import_id)

    async def read(cursor: str) -> tuple[list[Any], str | None]:
        return await client.list_persons(cursor=cursor or None, limit=PAGE_SIZE)

    raw, next_cursor = await ctx.prefetch.take(key, row["cursor"], read)
    if next_cursor:
        ctx.prefetch.start(key, next_cursor, read)
    persons = [from_pipedrive(p) for p in raw if isinstance(p, dict) and p.get("id")]
    prepared = await prepare_page(ctx, settings, persons)
    known, emails, last_seq = imports.staged_keys(
        ctx.store,
        import_id,
        [p["person_id"] for p in prepared],
        sorted({p["email_key"] for p in prepared if p["email_key"]}),
    )
    staged: list[tuple[Any, ...]] = []
    for item in prepared:
        if item["person_id"] in known:  # read again (a page re-read): staged once only
            continue
        known.add(item["person_id"])
        if item["email_key"]:
            if item["email_key"] in emails:
                item.update(reason=SAME_EMAIL, email_key="", contact="", fingerprint="")
            else:
                emails.add(item["email_key"])
        last_seq += 1
        staged.append(
            (
                import_id,
                job.company_id,
                last_seq,
                item["person_id"],
                item["reason"],
                item["email_key"],
                item["update_time"],
                item["label"],
                item["contact"],
                item["fingerprint"],
            )
        )
    return staged, next_cursor, last_seq


async def prepare_page(
    ctx: Context, settings: Settings, persons: list[Person]
) -> list[dict[str, Any]]:
    """One page's staged rows (without seq): the contact to send, or why it is skipped."""
    if not persons:
        return []
    company_id = settings.company_id
    fields = await person_fields(ctx, company_id)
    names = await organization_names(
        ctx,
        company_id,
        {
            p.org_id
            for p in persons
            if p.org_id and not p.org_name and p.email and plausible_email(p.email)
        },
    )
    outside = await rules_gate.page_outside(ctx, settings, persons, fields)  # F14
    extras = await field_mapping.builtin_values(
        ctx, settings, [p for p in persons if p.id not in outside], fields
    )
    items = []
    for person in persons:
        item = {
            "person_id": person.id,
            "reason": "",
            "email_key": "",
            "update_time": person.update_time,
            "label": "",
            "contact": "",
            "fingerprint": "",
        }
        items.append(item)
        if not person.email:
            item["reason"] = NO_EMAIL
            continue
        if not plausible_email(person.email):
            item["reason"] = BAD_EMAIL
            continue
        if person.id in outside:
            item["reason"] = rules_gate.OUTSIDE
            continue
        if person.org_id and not person.org_name:
            person.org_name = names.get(person.org_id, "")
        standard, custom = contact_fields(person, settings, fields, extras.get(person.id))
        item.update(
            email_key=person.email.lower(),
            label=newsletter_label(person, settings, fields),
            fingerprint=data_fingerprint(person.email, standard, custom),
            contact=json.dumps(
                {
                    "email": person.email,
                    "external_id": str(person.id),
                    "standard_fields": standard,
                    "custom_fields": custom,
                }
            ),
        )
    return items


async def _send_batch(ctx: Context, job: Job, row: dict[str, Any], settings: Settings) -> Step:
    """Phase 2: send the next batch of staged rows to Maileon."""
    rows = imports.rows_after(ctx.store, row["id"], row["sent_seq"], SEND_BATCH)
    result = await send_batch(
        ctx, settings, rows, started_at=row["started_at"], synced_only=bool(row["resend"])
    )
    changes = _sent_changes(row, rows, result)
    if not rows or changes["sent_seq"] >= (row["total"] or 0):
        changes.update(phase=_after_persons(row, settings), cursor=None)
    return _step_of(job, row, changes, states=result.states)


def _sent_changes(
    row: dict[str, Any], rows: list[dict[str, Any]], result: BatchResult
) -> dict[str, Any]:
    """The import's counters after sending `rows`."""
    skipped = Counter(json.loads(row["skipped"] or "{}")) + result.skipped
    return {
        "sent_seq": rows[-1]["seq"] if rows else row["sent_seq"],
        "done": row["done"] + len(rows),
        "imported": row["imported"] + result.imported,
        "skipped": json.dumps(dict(skipped)),
    }


Staged = tuple[dict[str, Any], PersonState, dict[str, Any]]  # staged row, state, contact


async def send_batch(
    ctx: Context,
    settings: Settings,
    rows: list[dict[str, Any]],
    started_at: float = 0.0,
    synced_only: bool = False,
) -> BatchResult:
    """Upsert staged rows into Maileon, one synchronize per permission; the person states to
    save come back. `synced_only` (a re-send after a changed field mapping): only persons with
    a contact, with their data and no permission."""
    result = BatchResult()
    company_id = settings.company_id
    groups = _group_by_permission(ctx, settings, rows, started_at, result, synced_only)
    if not groups:
        return result
    maileon = ctx.maileon(company_id)
    await ensure_maileon_fields(ctx, maileon, settings, await person_fields(ctx, company_id))
    for permission, items in groups.items():
        report = await _synchronize(ctx, maileon, company_id, [c for _, _, c in items], permission)
        _take_report(company_id, permission, items, report, result)
    return result


def _group_by_permission(
    ctx: Context,
    settings: Settings,
    rows: list[dict[str, Any]],
    started_at: float,
    result: BatchResult,
    synced_only: bool,
) -> dict[int, list[Staged]]:
    """The rows to send, by the permission they are sent with; the others counted skipped."""
    company_id = settings.company_id
    states = people.get_many(ctx.store, company_id, [r["person_id"] for r in rows])
    groups: dict[int, list[Staged]] = {}
    for staged in rows:
        state = states.get(staged["person_id"]) or PersonState(company_id, staged["person_id"])
        if staged["reason"]:
            result.skipped[staged["reason"]] += 1
        elif state.maileon_state == "unsubscribed":
            result.skipped[UNSUBSCRIBED] += 1
        elif state.last_update_time > staged["update_time"]:
            result.skipped[UPDATED_MEANWHILE] += 1  # that newer change is synced already
        elif state.deleted and state.synced_at >= started_at:
            result.skipped[DELETED_MEANWHILE] += 1
        elif synced_only and not rules_gate.has_contact(state):
            result.skipped[NOT_SYNCED] += 1
        else:
            permission = (
                settings.initial_permission
                if staged["label"] == SUBSCRIBED and not settings.doi_enabled and not synced_only
                else PERMISSION_NONE
            )
            groups.setdefault(permission, []).append((staged, state, json.loads(staged["contact"])))
    return groups


def _refusals(company_id: int, items: list[Staged], report: dict[str, Any]) -> dict[str, str]:
    """Why Maileon refused which contact, by email (or `#person_id`)."""
    refused = {}
    for bad in report["invalid"]:
        reason = MAILEON_CODES.get(bad["code"]) or (
            f"refused by Maileon: {bad['field']} not valid"
            if bad["field"]
            else "refused by Maileon"
        )
        refused[bad["email"].lower() or f"#{bad['external_id']}"] = reason
    if report["unnamed_invalid"] > 0:  # which contacts were refused is unknown: none counts
        log.warning(
            "company %s: Maileon refused %d contacts of an import batch without naming "
            "them; the batch's %d persons are not counted as imported",
            company_id,
            report["unnamed_invalid"],
            len(items),
        )
    return refused


def _take_report(
    company_id: int,
    permission: int,
    items: list[Staged],
    report: dict[str, Any],
    result: BatchResult,
) -> None:
    """Count one synchronize call's report into `result` and update the accepted states."""
    refused = _refusals(company_id, items, report)
    unnamed = report["unnamed_invalid"] > 0
    unsubscribed = report["count_unsubscribed_contacts"]
    all_new = not report["count_existing_contacts"]
    result.skipped[UNSUBSCRIBED] += unsubscribed
    accepted = 0
    for staged, state, contact in items:
        why = (
            refused.get(staged["email_key"])
            or refused.get(f"#{staged['person_id']}")
            or (UNNAMED_REFUSAL if unnamed else "")
        )
        if why:
            result.skipped[why] += 1
            continue
        accepted += 1
        _accepted(
            state, staged, contact, permission > PERMISSION_NONE and not unsubscribed, all_new
        )
        result.states.append(state)
    result.imported += max(0, accepted - unsubscribed)


def _accepted(
    state: PersonState,
    staged: dict[str, Any],
    contact: dict[str, Any],
    subscribed: bool,
    all_new: bool,
) -> None:
    state.email = contact["email"]
    state.last_update_time = max(state.last_update_time, staged["update_time"])
    state.newsletter = staged["label"]
    state.deleted = False
    if not state.maileon_state:  # a known state (pending, subscribed…) stays
        state.maileon_state = (
            ("subscribed" if subscribed else "none") if all_new else "found"
        )  # which existed is not reported
        state.app_created = 1 if all_new else None  # else createdByPipedrive tells
    state.data_hash = staged["fingerprint"]
    people.touch_synced(state)


async def _synchronize(
    ctx: Context,
    maileon: MaileonClient,
    company_id: int,
    contacts: list[dict[str, Any]],
    permission: int,
    rounds: int = 3,
) -> dict[str, Any]:
    """Import one batch (see `_synchronize_once`). Contacts Maileon refused for one field's
    value are sent again without that field (logged), so a bad value loses the field, not the
    contact; at most `rounds` times."""
    report = await _synchronize_once(ctx, maileon, company_id, contacts, permission)
    retry = _without_refused_fields(company_id, contacts, report["invalid"])
    if not retry or rounds <= 1:
        return report
    again = await _synchronize(ctx, maileon, company_id, retry, permission, rounds - 1)
    fixed = {c["email"].lower() for c in retry}
    report["invalid"] = [b for b in report["invalid"] if b["email"].lower() not in fixed] + again[
        "invalid"
    ]
    report["count_invalid_contacts"] = len(report["invalid"])
    report["unnamed_invalid"] = max(report["unnamed_invalid"], again["unnamed_invalid"])
    for name in ("count_new_contacts", "count_existing_contacts", "count_unsubscribed_contacts"):
        report[name] += again[name]
    return report


def _without_refused_fields(
    company_id: int, contacts: list[dict[str, Any]], invalid: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    by_email = {c["email"].lower(): c for c in contacts}
    out = []
    for bad in invalid:
        contact = by_email.get(bad["email"].lower())
        name = bad["field"]
        if contact is None or not name or name == CREATED_BY:
            continue
        standard = {k: v for k, v in contact["standard_fields"].items() if k != name}
        custom = {k: v for k, v in contact["custom_fields"].items() if k != name}
        if standard == contact["standard_fields"] and custom == contact["custom_fields"]:
            continue
        log.warning(
            "company %s: Maileon refused field %s of person %s in the import; left out",
            company_id,
            name,
            contact.get("external_id"),
        )
        out.append({**contact, "standard_fields": standard, "custom_fields": custom})
    return out


async def _synchronize_once(
    ctx: Context,
    maileon: MaileonClient,
    company_id: int,
    contacts: list[dict[str, Any]],
    permission: int,
) -> dict[str, Any]:
    """Import one batch without touching any existing contact's permission or its
    createdByPipedrive: first only the new contacts are created (`sync_mode=2`, with the
    permission and createdByPipedrive), then, when Maileon reports existing ones, the data of
    all is updated (`sync_mode=1`, `override_permission=false`, without createdByPipedrive).
    A report whose shape the app cannot read fails the batch (logged once per company)."""
    report = await maileon.synchronize_contacts(
        [{**c, "custom_fields": {**c["custom_fields"], CREATED_BY: True}} for c in contacts],
        permission=permission,
        sync_mode=2,
    )
    _check_report(ctx, company_id, report)
    new = (
        report["count_new_contacts"]
        + report["count_unsubscribed_contacts"]
        + report["count_invalid_contacts"]
    )
    if report["count_existing_contacts"] or new < len(contacts):
        update = await maileon.synchronize_contacts(contacts, permission=permission, sync_mode=1)
        _check_report(ctx, company_id, update)
        named = {(b["email"].lower(), b["external_id"]) for b in report["invalid"]}
        report["invalid"] += [
            b for b in update["invalid"] if (b["email"].lower(), b["external_id"]) not in named
        ]
        report["unnamed_invalid"] = max(report["unnamed_invalid"], update["unnamed_invalid"])
    return report


def _check_report(ctx: Context, company_id: int, report: dict[str, Any]) -> None:
    if report.get("readable"):
        return
    if ctx.cached(company_id, "sync_report_warned", 86400.0) is None:
        log.warning(
            "company %s: Maileon's synchronize report has an unexpected shape "
            "(no count_contacts); the import batch is not counted as imported",
            company_id,
        )
        ctx.remember(company_id, "sync_report_warned", True, 86400.0)
    raise PermanentError(
        "Maileon answered the import with a report the app cannot read "
        "(unexpected shape); nothing of this batch is counted as imported"
    )


async def _deals_page(ctx: Context, job: Job, row: dict[str, Any]) -> Step:
    """After the persons: one page of open deals, queued as transaction jobs."""
    cursor = row["cursor"]
    body = await ctx.pipedrive(job.company_id).request(
        "GET",
        "/api/v2/deals",
        params={"status": "open", "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})},
    )
    deals = [d for d in body.get("data") or [] if isinstance(d, dict) and d.get("id")]
    next_cursor = (body.get("additional_data") or {}).get("next_cursor")
    changes = {
        "cursor": next_cursor,
        "deals_queued": row["deals_queued"] + len(deals),
        "phase": "deals" if next_cursor else "finished",
    }
    return _step_of(job, row, changes, deals=deals)


def finished_facts(row: dict[str, Any]) -> dict[str, Any]:
    """What a finished import did (from its `imports` row), for its sync-log line. The skip
    reasons most often met come first; those beyond what a log message holds are only
    counted (`skipped_other`)."""
    skipped = json.loads(row.get("skipped") or "{}")
    ordered = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
    facts = {
        "done": row.get("done", 0),
        "imported": row.get("imported", 0),
        "deals_queued": row.get("deals_queued", 0),
    }
    for cut in range(len(ordered), -1, -1):
        facts["skipped"] = dict(ordered[:cut])
        facts["skipped_other"] = sum(n for _, n in ordered[cut:])
        if len(paged.facts_message(facts)) <= MAX_MESSAGE:
            break
    return facts


def _deal_jobs(deals: list[dict[str, Any]]) -> list[imports.QueuedJob]:
    from sync.deals.handler import job_entity_id  # deal sync is optional for the import

    return [
        (
            "deal",
            job_entity_id(str(deal["id"]), "change"),
            {"action": "change", "data": deal, "previous": None, "raw_action": "import"},
            normalize_time(deal.get("update_time")),
        )
        for deal in deals
    ]
