"""Job kind → handler: the worker's routing table."""

from __future__ import annotations

from store.queue import Job
from sync.deals.handler import handle_deal
from sync.engine.context import Context
from sync.engine.outcome import Outcome
from sync.engine.worker import Handler
from sync.persons.contacts import handle_person
from sync.persons.organizations import forget_organization
from sync.runs import import_run as backfill
from sync.runs import periodic
from sync.runs import rule_run as rules_run
from sync.syncback.engagement.bounce import handle_bounce
from sync.syncback.engagement.reader import read_reports
from sync.syncback.events import handle_maileon_event, reconcile


async def handle_organization(ctx: Context, job: Job) -> Outcome:
    """An organization changed: drop its cached name so the next person sync reads it anew."""
    forget_organization(ctx, job.company_id, int(job.entity_id))
    return Outcome.quiet("organization name cache refreshed")


HANDLERS: dict[str, Handler] = {
    "person": handle_person,
    "organization": handle_organization,
    "deal": handle_deal,
    "import": backfill.handle_import,
    "rules": rules_run.handle_rules_run,
    "periodic.webhooks": periodic.heal_webhooks,
    "periodic.sweep": periodic.sweep_persons,
    "periodic.tokens": periodic.refresh_tokens,
    "periodic.prune": periodic.prune,
    "maileon_event": handle_maileon_event,
    "periodic.reconcile": periodic.periodic("periodic.reconcile")(reconcile),
    "engagement.bounce": handle_bounce,
    "periodic.engagement": periodic.periodic("periodic.engagement")(read_reports),
}
