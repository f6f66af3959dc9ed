"""Removing the contacts of persons that stop matching the sync rules (F14), a page at a time,
with the worker's concurrency: one DELETE per person, up to WORKER_CONCURRENCY in flight.

The rule run's job gives its worker slot back while the removals wait for Maileon (they are
calls, not CPU), and each removal takes its person's lock without a slot: a person job holding
that lock may be parked itself and need a slot to finish (sync/engine/slots.py)."""

from __future__ import annotations

import asyncio

from store import people
from sync.engine.context import Context
from sync.persons.ownership import KEPT
from sync.rules.gate import REMOVED, has_contact, remove_contact


async def remove_contacts(ctx: Context, company_id: int, person_ids: list[int]) -> tuple[int, int]:
    """Remove the Maileon contact of each person that still has one, if the app created it; how
    many were removed and how many kept (not created by the app).
    Every removal runs to its end before a failure is raised (the first one), so a retried
    page finds the finished ones without a contact and does not remove them twice."""
    if not person_ids:
        return 0, 0
    gate = asyncio.Semaphore(max(1, ctx.config.worker_concurrency))
    free = ctx.without_slot()  # the removals run while the job waits without its slot

    async def one(person_id: int) -> str:
        async with gate, free.person_lock(company_id, person_id):
            state = people.get_many(free.store, company_id, [person_id]).get(person_id)
            if state is None or not has_contact(state):
                return ""
            return await remove_contact(free, state)

    results = await ctx.wait_for(
        asyncio.gather(*(one(pid) for pid in person_ids), return_exceptions=True)
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results.count(REMOVED), results.count(KEPT)
