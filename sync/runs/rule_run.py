"""Changing the sync rules (F14): preview the effect, then apply it to all persons.

A run is a row in `rule_runs` driven by `rules` jobs in the durable queue, one Pipedrive page
(500 persons, API v2) per job, like the import (sync/runs/import_run.py), whose preparing and
sending of contacts it reuses:

- *previewing*: each page is evaluated against the proposed rules and counted: persons with an
  email that match, of those the ones without a Maileon contact (will be added), and persons
  with a contact that do not match (removed or kept, as the admin chose). No Maileon call.
  The run then waits (*previewed*) for the admin to apply or discard it.
- *applying* (with contacts sync on; otherwise only the verdicts are recorded and Maileon is
  left as it is): the rules become active at once (webhooks follow them from then on), and each
  page is read again (fresh data): persons that start matching are sent to Maileon the way
  the import sends them (also a contact kept while the person was outside, to bring its data
  up to date), with permission NONE (nothing is subscribed by matching); persons
  with a contact that stop matching are removed or kept; every verdict is remembered.

The runner is the import's (sync/runs/paged.py): each step saves the counters, cursor, person
states, verdicts and the next job in one transaction, so a restart resumes at the saved cursor;
Cancel stops the run before its next page; a job that keeps failing stops the run with Resume
and Cancel. An applied run ends with its counts in the sync log (worded in web/run_words.py,
like the card's preview and result).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from clients.errors import PermanentError
from store import people, tenants
from store import rules as stored
from store.queue import Job
from store.runs import Write
from sync.engine.context import Context
from sync.persons.fields import person_fields
from sync.persons.newsletter import newsletter_label
from sync.persons.person import Person, from_pipedrive, plausible_email
from sync.rules.decide import SyncRules, evaluate
from sync.rules.gate import has_contact, names_for
from sync.runs import import_run as backfill
from sync.runs import paged
from sync.runs.paged import Step
from sync.runs.removals import remove_contacts

PAGE_SIZE = backfill.PAGE_SIZE
MAX_OWNERS_SEEN = 200


@dataclass
class RulePage:
    """One page of persons read for a run, with what the rules say about each."""

    persons: list[Person]
    next_cursor: str | None
    labels: dict[int, str]
    verdicts: dict[int, bool]
    states: dict[int, people.PersonState]
    contacts: set[int]  # persons with a Maileon contact
    changes: dict[str, Any]  # the run's row after this page (counters, cursor)


async def _step(ctx: Context, job: Job, run: dict[str, Any]) -> Step:
    """One page of a preview or an apply."""
    settings = tenants.get_settings(ctx.store, job.company_id)
    if run["state"] == "applying" and not settings.configured:
        raise PermanentError("no Maileon API key is set")
    rules = SyncRules.from_json(run["rules"])
    page = await _read_page(ctx, settings, run, rules)
    if run["state"] == "previewing":
        return _preview_step(run, rules, page)
    return await _apply_step(ctx, settings, run, rules, page)


handle_rules_run = paged.runner(stored.TABLE, _step)


async def _read_page(
    ctx: Context, settings: tenants.Settings, run: dict[str, Any], rules: SyncRules
) -> RulePage:
    company_id = settings.company_id
    raw, next_cursor = await ctx.pipedrive(company_id).list_persons(
        cursor=run["cursor"], limit=PAGE_SIZE
    )
    persons = [from_pipedrive(p) for p in raw if isinstance(p, dict) and p.get("id")]
    fields = await person_fields(ctx, company_id)
    names = names_for(ctx.store, company_id, fields)
    labels = {p.id: newsletter_label(p, settings, fields) for p in persons}
    verdicts = {p.id: evaluate(rules, p, labels[p.id], names).matches for p in persons}
    states = people.get_many(ctx.store, company_id, [p.id for p in persons])
    contacts = {pid for pid, s in states.items() if has_contact(s)}
    owners = set(stored.owners_seen(run)) | {p.owner_id for p in persons if p.owner_id}
    changes: dict[str, Any] = {
        "cursor": next_cursor,
        "read": run["read"] + len(persons),
        "owners_seen": json.dumps(sorted(owners)[:MAX_OWNERS_SEEN]),
    }
    return RulePage(persons, next_cursor, labels, verdicts, states, contacts, changes)


def _preview_step(run: dict[str, Any], rules: SyncRules, page: RulePage) -> Step:
    """Count the page. A preview changes nothing: it is no sync and has no sync-log line (the
    card shows its result)."""
    changes = page.changes
    _count(changes, run, rules, page.persons, page.verdicts, page.contacts, page.states)
    if not page.next_cursor:
        changes.update(state="previewed", total=changes["read"], cursor=None)
    return Step(changes)


async def _apply_step(
    ctx: Context, settings: tenants.Settings, run: dict[str, Any], rules: SyncRules, page: RulePage
) -> Step:
    company_id = settings.company_id
    persons, verdicts, changes = page.persons, page.verdicts, page.changes
    # starting to match: no contact yet, or a contact kept while the person was outside
    was = stored.membership(ctx.store, company_id, [p.id for p in persons])
    contacts = page.contacts if settings.contacts_sync else set()  # else Maileon stays as it is
    matching = [p for p in persons if verdicts[p.id] and _valid(p)]
    new = [p for p in matching if p.id not in contacts and settings.contacts_sync]
    back = [p for p in matching if p.id in contacts and was.get(p.id) is False]
    result = await _send(ctx, settings, new, page.labels)
    result.states += (await _send(ctx, settings, back, page.labels)).states
    leaving = [p.id for p in persons if not verdicts[p.id] and p.id in contacts]
    if rules.on_stop == "remove":
        removed, kept = await remove_contacts(ctx, company_id, leaving)
    else:
        removed, kept = 0, len(leaving)
    changes.update(
        added=run["added"] + result.imported,
        removed=run["removed"] + removed,
        kept=run["kept"] + kept,
    )
    if not page.next_cursor:
        changes.update(state="done", cursor=None)
    return Step(
        changes,
        always=_keep(company_id, result.states, verdicts),
        facts=_applied_facts({**run, **changes}, rules),
    )


def _keep(company_id: int, states: list[people.PersonState], verdicts: dict[int, bool]) -> Write:
    """A page's person states and verdicts: Maileon has these contacts already, so they are
    saved even when the run was cancelled meanwhile."""

    def write(db: Any) -> None:
        people.save_all(db, states, merge=True)
        if verdicts:
            stored.remember(db, company_id, verdicts)

    return write


def _applied_facts(run: dict[str, Any], rules: SyncRules) -> dict[str, Any] | None:
    """What applying the rules did, for the sync log once the run is done."""
    if run["state"] != "done":
        return None
    return {**{k: run[k] for k in ("read", "added", "removed", "kept")}, "on_stop": rules.on_stop}


def _valid(person: Person) -> bool:
    return bool(person.email) and plausible_email(person.email)


def _count(
    changes: dict[str, Any],
    run: dict[str, Any],
    rules: SyncRules,
    persons: list[Person],
    verdicts: dict[int, bool],
    contacts: set[int],
    states: dict[int, people.PersonState],
) -> None:
    """Preview counts. Leaving contacts with 'remove': those the app created are removed,
    those it found in Maileon kept; where the app does not know, Maileon's createdByPipedrive
    decides when the run is applied (counted as removals to check)."""
    matching = [p for p in persons if verdicts[p.id] and _valid(p)]
    leaving = [p for p in persons if not verdicts[p.id] and p.id in contacts]
    changes["matching"] = run["matching"] + len(matching)
    changes["to_add"] = run["to_add"] + len([p for p in matching if p.id not in contacts])
    if rules.on_stop == "remove":
        creators = [states[p.id].app_created for p in leaving]
        changes["to_remove"] = run["to_remove"] + sum(c != 0 for c in creators)
        changes["to_keep"] = run["to_keep"] + sum(c == 0 for c in creators)
        changes["to_check"] = run["to_check"] + sum(c is None for c in creators)
    else:
        changes["to_keep"] = run["to_keep"] + len(leaving)


async def _send(
    ctx: Context, settings: Any, starters: list[Person], labels: dict[int, str]
) -> backfill.BatchResult:
    """Send persons that start matching like the import does, but always without permission:
    their Newsletter value is recorded, not acted on (matching subscribes nobody)."""
    if not starters:
        return backfill.BatchResult()
    rows = [r for r in await backfill.prepare_page(ctx, settings, starters) if not r["reason"]]
    for row in rows:
        row["label"] = ""  # permission NONE in send_batch
    result = await backfill.send_batch(ctx, settings, rows)
    for state in result.states:
        state.newsletter = labels.get(state.person_id, "")
    return result
