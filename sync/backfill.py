"""Import existing contacts (F12): all Pipedrive persons into Maileon, page by page.

An import is a row in `imports` (cursor, phase, counters) driven by `import` jobs in the durable
queue, **one page per job**: each job reads one page (API v2, cursor, 500 persons), upserts it
into Maileon with one `POST /contacts` synchronize per permission, then saves the next cursor,
the counters, the persons' state and the job for the next page in one transaction. So:

- a restart resumes at the saved cursor (the next page's job is already pending); a crash in
  the middle of a page re-sends only that page, which is harmless (synchronize is an upsert and
  the counters are only saved with the cursor);
- a 429 (or any transient error) reschedules only that page's job with the wait Pipedrive asked
  for (Retry-After / x-ratelimit-reset), through the worker — no busy loop — and each page has
  the worker's full retry budget; a page that keeps failing ends as a failed job in the sync log
  (the import shows as stopped, with Resume and Cancel);
- cancel is a flag checked before each page; one import runs at a time per company.

Total: API v2 lists give no total, so the import starts with a cheap counting pass over the
same cursor pages (one list call per 500 persons: 10 tokens, i.e. 0.02 tokens per person, and
nothing sent to Maileon). While it counts, the card shows "counting…" with the persons counted
so far; then the progress bar shows done/total.

Consent: permission NONE unless the Newsletter field says Subscribed and DOI is off (then the
initial permission); with DOI on, imports never start a double opt-in. Maileon is told never to
re-import unsubscribed contacts nor to override existing permissions. The person state is saved
(email, update time, Newsletter value, data fingerprint) so later webhooks send only changes.
Maileon's synchronize report says how many contacts were unsubscribed but not which
(UNCONFIRMED shape, read tolerantly); a batch with such contacts leaves its subscribed persons
in state 'none' rather than claim a subscription.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from clients.errors import PermanentError
from store import people, queue, tenants
from store.db import Store, now
from store.people import PersonState
from store.queue import Job
from store.tenants import Settings
from sync.contacts import (
    SUBSCRIBED,
    contact_fields,
    data_fingerprint,
    ensure_maileon_fields,
    newsletter_label,
)
from sync.context import Context
from sync.fields import person_fields
from sync.intake import normalize_time
from sync.organizations import organization_names
from sync.outcome import Outcome
from sync.persons import Person, from_pipedrive, plausible_email

KIND = "import"
PAGE_SIZE = 500
PERMISSION_NONE = 1

NO_EMAIL = "no email address"
BAD_EMAIL = "email address not valid"
SAME_EMAIL = "same email address as another person"
UNSUBSCRIBED = "unsubscribed in Maileon (not re-imported)"
MAILEON_CODES = {1: "refused by Maileon: external id missing", 2: NO_EMAIL, 3: BAD_EMAIL,
                 4: "refused by Maileon: duplicate external id", 5: SAME_EMAIL}


# --- the imports table -------------------------------------------------------------------------
def latest(store: Store, company_id: int) -> dict[str, Any] | None:
    return store.one("SELECT * FROM imports WHERE company_id=? ORDER BY id DESC LIMIT 1",
                     (company_id,))


def start(store: Store, company_id: int, user_id: int, include_deals: bool = False
          ) -> tuple[dict[str, Any], bool]:
    """Start an import, or return the one running (False)."""
    t = now()
    with store.tx() as db:
        running = db.execute("SELECT * FROM imports WHERE company_id=? AND state='running' "
                             "ORDER BY id LIMIT 1", (company_id,)).fetchone()
        if running is not None:
            return dict(running), False
        cur = db.execute("INSERT INTO imports (company_id, state, phase, include_deals, "
                         "started_by, started_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                         (company_id, "running", "counting", int(include_deals), user_id, t, t))
        import_id = int(cur.lastrowid or 0)
        queue.upsert_job(db, company_id, KIND, str(import_id), {"import_id": import_id})
        row = db.execute("SELECT * FROM imports WHERE id=?", (import_id,)).fetchone()
    return dict(row), True


def cancel(store: Store, company_id: int) -> bool:
    """Stop the running import before its next page; its waiting or failed jobs end."""
    t = now()
    with store.tx() as db:
        row = db.execute("SELECT id FROM imports WHERE company_id=? AND state='running'",
                         (company_id,)).fetchone()
        if row is None:
            return False
        db.execute("UPDATE imports SET state='cancelled', finished_at=?, updated_at=? "
                   "WHERE id=?", (t, t, row["id"]))
        db.execute("UPDATE jobs SET state='done', last_error='import cancelled', updated_at=? "
                   "WHERE company_id=? AND kind=? AND entity_id=? AND state IN "
                   "('pending','failed')", (t, company_id, KIND, str(row["id"])))
    return True


def resume(store: Store, company_id: int) -> bool:
    """Queue the next page of a running import whose page job failed (stopped)."""
    with store.tx() as db:
        row = db.execute("SELECT id FROM imports WHERE company_id=? AND state='running'",
                         (company_id,)).fetchone()
        if row is None:
            return False
        entity = str(row["id"])
        db.execute("UPDATE jobs SET state='done', last_error='resumed', updated_at=? "
                   "WHERE company_id=? AND kind=? AND entity_id=? AND state='failed'",
                   (now(), company_id, KIND, entity))
        queue.upsert_job(db, company_id, KIND, entity, {"import_id": row["id"]})
    return True


def view(store: Store, company_id: int) -> dict[str, Any] | None:
    """What the settings card shows about the latest import."""
    row = latest(store, company_id)
    if row is None:
        return None
    job = store.one("SELECT state, run_after, last_error FROM jobs WHERE company_id=? AND kind=? "
                    "AND entity_id=? ORDER BY id DESC LIMIT 1",
                    (company_id, KIND, str(row["id"])))
    skipped = json.loads(row["skipped"] or "{}")
    running = row["state"] == "running"
    stopped = running and (job is None or job["state"] in ("failed", "done"))
    waiting = ""
    if running and job is not None and job["state"] == "pending" and job["last_error"]:
        seconds = max(0, int(job["run_after"] - now() + 0.999))
        waiting = f"{job['last_error']} — continuing in {seconds} s" if seconds \
            else f"{job['last_error']} — continuing now"
    total = row["total"]
    if total is not None:
        total = max(int(total), int(row["done"]))
    return {
        "id": row["id"], "state": row["state"], "phase": row["phase"], "running": running,
        "stopped": stopped, "error": (job or {}).get("last_error", "") if stopped else "",
        "waiting": waiting, "counting": row["phase"] == "counting", "counted": row["counted"],
        "total": total, "done": row["done"], "imported": row["imported"],
        "skipped": sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])),
        "skipped_total": sum(skipped.values()), "include_deals": bool(row["include_deals"]),
        "deals_queued": row["deals_queued"], "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "percent": int(100 * row["done"] / total) if total else (100 if total == 0 else 0),
    }


# --- the job -----------------------------------------------------------------------------------
@dataclass
class PageResult:
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    states: list[PersonState] = field(default_factory=list)


async def handle_import(ctx: Context, job: Job) -> Outcome:
    """One page of an import; queues the next one."""
    store = ctx.store
    row = store.one("SELECT * FROM imports WHERE id=? AND company_id=?",
                    (int(job.entity_id), job.company_id))
    if row is None or row["state"] != "running":
        return Outcome.quiet("import no longer running")
    settings = tenants.get_settings(store, job.company_id)
    if not settings.configured:
        raise PermanentError("no Maileon API key is set")
    phase, cursor = row["phase"], row["cursor"]
    changes: dict[str, Any] = {}
    result = PageResult()
    client = ctx.pipedrive(job.company_id)
    if phase == "counting":
        persons, next_cursor = await client.list_persons(cursor=cursor, limit=PAGE_SIZE)
        counted = row["counted"] + len(persons)
        changes = {"counted": counted, "cursor": next_cursor}
        if not next_cursor:
            changes.update(total=counted, phase="persons")
    elif phase == "persons":
        persons, next_cursor = await client.list_persons(cursor=cursor, limit=PAGE_SIZE)
        result = await import_page(ctx, settings, persons)
        skipped = Counter(json.loads(row["skipped"] or "{}")) + result.skipped
        changes = {"cursor": next_cursor, "done": row["done"] + len(persons),
                   "imported": row["imported"] + result.imported,
                   "skipped": json.dumps(dict(skipped))}
        if not next_cursor:
            changes["phase"] = "deals" if row["include_deals"] and settings.deals_sync \
                else "finished"
    elif phase == "deals":
        body = await client.request("GET", "/api/v2/deals", params={
            "status": "open", "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})})
        deals = [d for d in body.get("data") or [] if isinstance(d, dict) and d.get("id")]
        next_cursor = (body.get("additional_data") or {}).get("next_cursor")
        changes = {"cursor": next_cursor, "deals_queued": row["deals_queued"] + len(deals),
                   "phase": "deals" if next_cursor else "finished"}
    else:
        changes = {"phase": "finished"}
    finished = changes.get("phase") == "finished"
    if finished:
        changes.update(state="done", finished_at=now(), cursor=None)
    changes.update(pages=row["pages"] + 1, updated_at=now())
    with store.tx() as db:
        assignments = ", ".join(f"{k}=?" for k in changes)
        updated = db.execute(
            f"UPDATE imports SET {assignments} WHERE id=? AND state='running'",  # noqa: S608
            (*changes.values(), row["id"])).rowcount
        if not updated:  # cancelled while this page ran: keep what Maileon already has
            _save_states(db, result.states)
            return Outcome.quiet("import cancelled")
        _save_states(db, result.states)
        if phase == "deals":
            _queue_deals(db, job.company_id, deals)
        if not finished:
            queue.upsert_job(db, job.company_id, KIND, job.entity_id, {"import_id": row["id"]})
    if not finished:
        return Outcome.quiet(f"import page {row['pages'] + 1} done")
    return Outcome.ok(summary(view(store, job.company_id) or {}))


def summary(v: dict[str, Any]) -> str:
    text = f"Import finished: {v.get('imported', 0)} of {v.get('done', 0)} persons imported"
    if v.get("skipped_total"):
        reasons = ", ".join(f"{n} {reason}" for reason, n in v.get("skipped", []))
        text += f"; {v['skipped_total']} skipped ({reasons})"
    if v.get("deals_queued"):
        text += f"; {v['deals_queued']} open deals queued as transactions"
    return text


def _queue_deals(db: Any, company_id: int, deals: list[dict[str, Any]]) -> None:
    from sync.deals import job_entity_id  # deal sync is optional for the import

    for deal in deals:
        queue.upsert_job(db, company_id, "deal", job_entity_id(str(deal["id"]), "change"),
                         {"action": "change", "data": deal, "previous": None,
                          "raw_action": "import"},
                         normalize_time(deal.get("update_time")))


def _save_states(db: Any, states: list[PersonState]) -> None:
    if not states:
        return
    columns = people.COLUMNS
    db.conn.executemany(
        f"INSERT OR REPLACE INTO persons ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(columns))})",
        [[getattr(s, c) for c in columns] for s in states])


def _load_states(store: Store, company_id: int, ids: list[int]) -> dict[int, PersonState]:
    states: dict[int, PersonState] = {}
    for start_at in range(0, len(ids), 500):
        chunk = ids[start_at:start_at + 500]
        marks = ",".join("?" * len(chunk))
        for r in store.all(f"SELECT * FROM persons WHERE company_id=? "  # noqa: S608
                           f"AND person_id IN ({marks})", (company_id, *chunk)):
            r["deleted"] = bool(r["deleted"])
            states[r["person_id"]] = PersonState(**r)
    return states


async def import_page(ctx: Context, settings: Settings, raw: list[dict[str, Any]]
                      ) -> PageResult:
    """Upsert one page of API v2 persons into Maileon; the states to save come back."""
    result = PageResult()
    company_id = settings.company_id
    persons = [from_pipedrive(p) for p in raw if isinstance(p, dict) and p.get("id")]
    if not persons:
        return result
    fields = await person_fields(ctx, company_id)
    maileon = ctx.maileon(company_id)
    await ensure_maileon_fields(ctx, maileon, settings, fields)
    names = await organization_names(
        ctx, company_id, {p.org_id for p in persons if p.org_id and not p.org_name})
    states = _load_states(ctx.store, company_id, [p.id for p in persons])
    groups: dict[int, list[tuple[Person, PersonState, str, dict[str, Any]]]] = {}
    seen: set[str] = set()
    for person in persons:
        state = states.get(person.id) or PersonState(company_id, person.id)
        if not person.email:
            result.skipped[NO_EMAIL] += 1
            continue
        if not plausible_email(person.email):
            result.skipped[BAD_EMAIL] += 1
            continue
        if state.maileon_state == "unsubscribed":
            result.skipped[UNSUBSCRIBED] += 1
            continue
        if person.email.lower() in seen:
            result.skipped[SAME_EMAIL] += 1
            continue
        seen.add(person.email.lower())
        if person.org_id and not person.org_name:
            person.org_name = names.get(person.org_id, "")
        label = newsletter_label(person, settings, fields)
        permission = settings.initial_permission \
            if label == SUBSCRIBED and not settings.doi_enabled else PERMISSION_NONE
        standard, custom = contact_fields(person, settings, fields)
        contact: dict[str, Any] = {"email": person.email, "external_id": str(person.id),
                                   "standard_fields": standard, "custom_fields": custom,
                                   "hash": data_fingerprint(person.email, standard, custom)}
        groups.setdefault(permission, []).append((person, state, label, contact))
    for permission, items in groups.items():
        report = await maileon.synchronize_contacts([c for _, _, _, c in items],
                                                    permission=permission)
        refused = {}
        for bad in report["invalid"]:
            reason = MAILEON_CODES.get(bad["code"]) or (
                f"refused by Maileon: {bad['field']} not valid" if bad["field"]
                else "refused by Maileon")
            refused[bad["email"].lower() or f"#{bad['external_id']}"] = reason
        unsubscribed = report["count_unsubscribed_contacts"]
        result.skipped[UNSUBSCRIBED] += unsubscribed
        accepted = 0
        for person, state, label, contact in items:
            why = refused.get(person.email.lower()) or refused.get(f"#{person.id}")
            if why:
                result.skipped[why] += 1
                continue
            accepted += 1
            state.email = person.email
            state.last_update_time = max(state.last_update_time, person.update_time)
            state.newsletter = label
            state.deleted = False
            if not state.maileon_state:  # a known state (pending, subscribed…) stays
                subscribed = permission > PERMISSION_NONE and not unsubscribed
                state.maileon_state = "subscribed" if subscribed else "none"
            state.data_hash = contact["hash"]
            people.touch_synced(state)
            result.states.append(state)
        result.imported += max(0, accepted - unsubscribed)
    return result
