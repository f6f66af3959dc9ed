"""Job kind → handler: the worker's routing table."""

from __future__ import annotations

from store.queue import Job
from sync import backfill, periodic, rules_run
from sync.contacts import handle_person
from sync.context import Context
from sync.deals import handle_deal
from sync.engagement.bounce import handle_bounce
from sync.engagement.reader import read_reports
from sync.organizations import forget_organization
from sync.outcome import Outcome
from sync.syncback import handle_maileon_event, reconcile
from sync.worker import Handler


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
