"""The first write of persons the app has never written, batched: one synchronize call creates
the contacts Maileon does not have yet, for all person jobs running at the same time.

Consent: the call uses `sync_mode=2` and `override_permission=false`, so a contact that exists
is left alone, its permission included (reference §2.2, §2.8); only contacts it creates get
permission NONE and `createdByPipedrive`. It saves the update that would answer 404 before each
create. The report gives counts, not a verdict per contact, so a batch counts as created only
when Maileon says every contact in it was new; otherwise each job goes the single-contact way
(update, create on 404), which is right whatever the batch did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from clients.errors import ApiError, TransientError
from clients.maileon import PERMISSION_NONE, MaileonClient
from sync.engine.slots import JobSlot, Slots

log = logging.getLogger("pipedrive_maileon.sync")

WINDOW = 0.005  # seconds a batch waits for one more job (the worker's jobs run together)
# and at most this long after its first job, while more of the company's leased jobs are on
# their way (a chunk's hundred jobs take turns for slots with every other company's jobs)
MAX_WINDOW = 0.5
MAX_BATCH = 100
# the job kinds whose jobs may reach a batch (a person job's first write): a company's batch
# waits for those of its leased jobs still on their way (`Slots.coming`), not for a deal's
KINDS = frozenset({"person"})


class NewContacts:
    """One synchronize call in flight per company: the jobs that reach their first write
    meanwhile wait, without their worker slot (`Context.wait_for`), and go together in the next
    call as soon as it returns, so a batch holds what arrived during one call's latency.
    With no call in flight, a batch waits while the company's jobs keep arriving
    (`_wait_for_more`)."""

    def __init__(self, maileon: Callable[[int], MaileonClient], slots: Slots) -> None:
        self.maileon = maileon
        self.slots = slots
        self.waiting: dict[int, list[tuple[dict[str, Any], asyncio.Future[bool]]]] = {}
        self.in_flight: set[int] = set()  # companies with a synchronize call under way
        self.warned: set[int] = set()
        self.sending: set[asyncio.Task[None]] = set()
        self.timers: dict[int, tuple[float, asyncio.TimerHandle]] = {}  # first job's time, timer

    async def create(
        self, company_id: int, contact: dict[str, Any], slot: JobSlot | None = None
    ) -> bool:
        """True when Maileon created this contact (it had none); False when that is not
        certain, and the caller must write the contact itself. `slot`: the calling job's,
        which the batch stops waiting for (`Slots.coming`)."""
        if slot is not None:
            slot.arrived()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        batch = self.waiting.setdefault(company_id, [])
        batch.append((contact, done))
        if len(batch) >= MAX_BATCH:
            self._start(company_id)
        elif company_id not in self.in_flight:
            self._wait_for_more(loop, company_id)
        return await done

    def _wait_for_more(self, loop: asyncio.AbstractEventLoop, company_id: int) -> None:
        """Send the company's batch WINDOW after its latest job, while more keep coming or
        the worker has more of the company's jobs leased that have not got here yet (it
        leases a company's jobs in chunks), but at most MAX_WINDOW after its first."""
        first, timer = self.timers.get(company_id, (loop.time(), None))
        if timer is not None:
            timer.cancel()
        at = min(loop.time() + WINDOW, first + MAX_WINDOW)
        self.timers[company_id] = (first, loop.call_at(at, self._due, loop, company_id))

    def _due(self, loop: asyncio.AbstractEventLoop, company_id: int) -> None:
        first, _ = self.timers.get(company_id, (0.0, None))
        if self.slots.coming.get(company_id) and loop.time() < first + MAX_WINDOW:
            self._wait_for_more(loop, company_id)
        else:
            self._start(company_id)

    def _start(self, company_id: int) -> None:
        first_timer = self.timers.pop(company_id, None)
        if first_timer is not None:
            first_timer[1].cancel()
        if company_id in self.in_flight or not self.waiting.get(company_id):
            return  # the call under way sends the rest when it returns
        self.in_flight.add(company_id)
        task = asyncio.create_task(self._send(company_id))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _send(self, company_id: int) -> None:
        waiting = self.waiting.pop(company_id, [])
        if len(waiting) > MAX_BATCH:
            self.waiting[company_id] = waiting[MAX_BATCH:]
        try:
            await self._send_batch(company_id, waiting[:MAX_BATCH])
        finally:
            self.in_flight.discard(company_id)
            self._start(company_id)  # those that arrived meanwhile, at once

    async def _send_batch(
        self, company_id: int, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]
    ) -> None:
        created, failure = False, None
        try:
            report = await self.maileon(company_id).synchronize_contacts(
                [contact for contact, _ in batch], permission=PERMISSION_NONE, sync_mode=2
            )
            created = (
                bool(report["readable"])
                and not report["invalid"]
                and report["count_new_contacts"] == len(batch)
            )
            if not report["readable"] and company_id not in self.warned:
                self.warned.add(company_id)
                log.warning(
                    "company %s: Maileon's synchronize report has an unexpected shape "
                    "(no count_contacts); new contacts are written one by one",
                    company_id,
                )
        except TransientError as exc:  # a 429 or an outage: every job waits it out
            failure = exc
        except ApiError as exc:  # refused as a batch: each job tries on its own
            log.info(
                "company %s: batch of %d new contacts refused (%s); one by one instead",
                company_id,
                len(batch),
                exc.message,
            )
        finally:  # whatever happened, no job is left waiting
            for _, done in batch:
                if done.done():
                    continue
                if failure is not None:
                    done.set_exception(failure)
                else:
                    done.set_result(created)
