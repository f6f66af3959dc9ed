"""The in-process worker: leases due jobs from the durable queue and runs them with bounded
concurrency; retries with exponential backoff and jitter (honouring Retry-After), ends a job as
failed after MAX_ATTEMPTS or on a permanent error. A crash leaves leases that the next start hands
back; a stop (SIGTERM) lets running jobs finish and hands back the leases of those that cannot.
Timing in the process (the loop's sleeps, its heartbeat) is monotonic, so a wall-clock step
changes nothing; jobs of this process are never leased again while it owns them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial

from clients.errors import ApiError, TransientError
from store import outages, people, queue
from store.db import now
from store.queue import Job
from sync.engine.context import KEY_STATUS_BY_ERROR, Context, WorkerTrouble
from sync.engine.outcome import Outcome
from sync.engine.slots import JobSlot
from sync.engine.supervisor import Supervisor
from sync.persons import new_contacts

log = logging.getLogger("pipedrive_maileon.worker")

Handler = Callable[[Context, Job], Awaitable[Outcome]]
MAX_ATTEMPTS = 20  # with backoff capped at 15 min: about 3 hours of transient failures
LEASE_SECONDS = 120.0
BASE_DELAY = 2.0
MAX_DELAY = 900.0
# On stop, running jobs get this long to finish: with the HTTP drain before it, the process exits
# well inside the ~30 s a platform allows between SIGTERM and SIGKILL.
STOP_GRACE = 12.0
# After a database error the loop pauses this long, doubling up to the maximum, until it works.
TROUBLE_PAUSE = 0.2
MAX_TROUBLE_PAUSE = 5.0


def key_cause(exc: ApiError) -> str:
    """`maileon_key` when Maileon refused the key (it is retried once a valid key is saved)."""
    return "maileon_key" if exc.service == "Maileon" and exc.status in KEY_STATUS_BY_ERROR else ""


def backoff(attempts: int, scale: float) -> float:
    delay = min(MAX_DELAY, BASE_DELAY * 2.0 ** (attempts - 1))
    return float(delay * scale * random.uniform(0.8, 1.2))


class Worker:
    def __init__(self, ctx: Context, handlers: dict[str, Handler]) -> None:
        self.ctx = ctx
        self.handlers = handlers
        self.slots = ctx.slots
        self.slots.on_free = self.slot_freed
        self.wakeup = asyncio.Event()
        self.running: set[asyncio.Task[None]] = set()
        self.jobs: dict[asyncio.Task[None], Job] = {}  # what each running task works on
        self.not_started: set[asyncio.Task[None]] = set()  # leased ahead, waiting for a slot
        # Outcomes the database did not take (a full disk): written first once it works again,
        # and their jobs stay this process's (never re-leased) until then.
        self.unsettled: list[tuple[Job, Callable[[], None]]] = []
        self.leases = 0  # leases so far: a lease's jobs wait for slots after older ones'
        self.heartbeat = 0.0  # monotonic time of the loop's last turn
        self.sleep_until = 0.0  # monotonic time the loop waits until unless woken
        self._stopping = False
        self.supervisor = Supervisor("worker loop", self.run)  # restarts `run` after a crash

    def wake(self, due_at: float | None = None) -> None:
        """New work was queued (due at `due_at`, monotonic, or now). With every slot busy the
        next finished job wakes the loop anyway (`_done`), and a job due after the loop's
        planned wake-up waits for it, so a burst of webhooks does not re-scan the queue on
        every event."""
        if self.slots.free() > 0 and (due_at is None or due_at < self.sleep_until):
            self.wakeup.set()

    def slot_freed(self) -> None:
        """A slot came free (a job ended, or waits for a shared call without its slot)."""
        self.wakeup.set()

    def live_job_ids(self) -> list[int]:
        """Jobs this process still owns: running, or with an outcome not yet stored."""
        return [job.id for job in self.jobs.values()] + [job.id for job, _ in self.unsettled]

    async def run(self) -> None:
        """Lease and start due jobs until stopped. A database error (a full disk, a broken
        file) never ends the loop: it is logged and shown (`Context.worker_trouble`, /healthz),
        and the loop tries again with a growing pause until the database works again."""
        failures = 0
        while not self._stopping:
            self.heartbeat = time.monotonic()
            try:
                self._settle()
                more = self._lease()
                due_in = None if more else queue.next_due_in(self.ctx.store)
            except Exception as exc:  # sqlite3.Error above all; anything else the same way
                failures += 1
                pause = min(MAX_TROUBLE_PAUSE, TROUBLE_PAUSE * 2.0 ** (failures - 1))
                self._troubled(exc, failures, pause)
                await asyncio.sleep(pause)  # not cut short by new work: the database is the issue
                continue
            if failures:
                log.warning("the worker can use the database again after %d failure(s)", failures)
                failures = 0
                self.ctx.worker_trouble = None
            if more:
                continue
            await self._sleep(1.0 if due_in is None else min(1.0, max(0.01, due_in)))

    def _lease(self) -> bool:
        """Lease due jobs, a chunk beyond the free slots (those wait for their first slot);
        True when jobs came and slots are left."""
        limit = self.slots.lease_limit()
        jobs = (
            queue.lease(
                self.ctx.store,
                limit,
                LEASE_SECONDS,
                self.slots.per_company,
                chunk=self.slots.ahead or 1,
                live=self.live_job_ids(),
            )
            if limit > 0
            else []
        )
        started = min(self.slots.free(), len(jobs))
        self.slots.take(started)
        self.leases += 1
        leased = Counter(job.company_id for job in jobs)
        for n, job in enumerate(jobs):
            # waiting for a slot, this lease's jobs come after the older leases' (their chunks
            # finish first), except a company's few: another company's single change
            rank = 0 if leased[job.company_id] <= queue.SMALL else self.leases
            task = asyncio.create_task(self._run_one(job, rank, ahead=n >= started))
            self.running.add(task)
            self.jobs[task] = job
            if n >= started:
                self.not_started.add(task)
            task.add_done_callback(self._done)
        self.slots.admit_returning()
        return bool(jobs) and self.slots.free() > 0

    async def _sleep(self, seconds: float) -> None:
        """Until woken, or `seconds` at most."""
        self.sleep_until = time.monotonic() + seconds
        self.wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wakeup.wait(), seconds)

    def _troubled(self, exc: Exception, failures: int, pause: float) -> None:
        message = f"{type(exc).__name__}: {exc}"[:300]
        trouble = self.ctx.worker_trouble
        since = now() if trouble is None else trouble.since
        self.ctx.worker_trouble = WorkerTrouble(since, message)
        if failures == 1:
            log.exception("the worker cannot use the database; it tries again shortly")
        else:
            log.error(
                "the worker still cannot use the database (%s); next try in %.1f s",
                message,
                pause,
                extra={"fields": {"failures": failures}},
            )

    def _settle(self) -> None:
        """Store the outcomes the database refused earlier, oldest first."""
        while self.unsettled:
            job, write = self.unsettled[0]
            write()
            self.unsettled.pop(0)
            log.info("job %s (%s): its outcome is stored now", job.id, job.kind)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self.jobs.pop(task, None)
        self.not_started.discard(task)
        self.slots.release()  # wakes the loop unless a parked job takes the slot

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop leasing; running jobs get `grace` seconds to finish (their calls to be
        answered). The rest are cancelled, named in the log, and their leases handed back, so
        the next start runs them at once (nothing is lost). A deal transaction whose call
        was abandoned is checked against Maileon before it is ever sent again
        (sync/deals/handler.py), so handing it back duplicates nothing."""
        self._stopping = True
        self.supervisor.stopping = True
        self.slots.leasing = False
        # jobs leased ahead that have not started are handed back, not started now
        not_started = list(self.not_started)
        for task in not_started:
            task.cancel()
        if not_started:
            await asyncio.wait(not_started, timeout=2)
        self.slots.admit_returning()
        self.wakeup.set()
        if self.running:
            log.info(
                "stopping: waiting up to %.0f s for %d running job(s)", grace, len(self.running)
            )
            _, unfinished = await asyncio.wait(self.running, timeout=grace)
            if unfinished:
                abandoned = [self.jobs[t] for t in unfinished if t in self.jobs]
                for task in unfinished:
                    task.cancel()
                await asyncio.wait(unfinished, timeout=2)
                log.warning(
                    "stopping: abandoned %d job(s) whose calls were not answered within %.0f s: %s",
                    len(abandoned),
                    grace,
                    ", ".join(f"{j.id} ({j.kind} {j.entity_id})" for j in abandoned),
                )
        with contextlib.suppress(Exception):
            self._settle()
        if self.unsettled:
            log.error(
                "stopping with %d job outcome(s) the database did not take; those jobs run"
                " again at the next start",
                len(self.unsettled),
            )
        # One process owns the database (store/instance.py): every running lease is ours.
        with contextlib.suppress(Exception):
            released = queue.release_leases(self.ctx.store)
            if released:
                log.warning("%d lease(s) handed back for the next start", released)

    async def _run_one(self, job: Job, rank: int, ahead: bool = False) -> None:
        # the job's slot; a person job's counts as coming to its company's batch until it
        # gets there or ends
        feeds = job.kind in new_contacts.KINDS
        slot = JobSlot(self.slots, job.company_id if feeds else None, rank)
        try:
            await self._run_job(job, slot, ahead)
        finally:
            slot.arrived()

    async def _run_job(self, job: Job, slot: JobSlot, ahead: bool) -> None:
        if ahead:  # leased beyond the free slots: it waits for one first
            await self.slots.first_slot(slot.rank)
            self.not_started.discard(asyncio.current_task())
        handler = self.handlers.get(job.kind)
        write: Callable[[], None]
        try:
            if handler is None:
                write = partial(self._record_failure, job, f"unknown job kind {job.kind!r}")
            else:
                # the handler's Context holds the job's slot (sync/engine/slots.py)
                outcome = await handler(self.ctx.for_job(slot), job)
                write = partial(self._succeeded, job, outcome)
        except TransientError as exc:
            write = partial(self._transient, job, exc)
        except ApiError as exc:  # permanent: re-authorization, refused data, missing key
            write = partial(self._permanent, job, exc)
        except asyncio.CancelledError:
            raise
        except sqlite3.Error as exc:
            log.error("job %s (%s) could not use the database: %s", job.id, job.kind, exc)
            write = partial(
                self._retry_or_fail, job, "the app's database could not be written", None
            )
        except Exception:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            write = partial(
                self._retry_or_fail, job, "an internal error occurred; it will be retried", None
            )
        try:
            write()
        except Exception as exc:
            log.error(
                "job %s (%s): its outcome could not be stored (%s); it is kept until the"
                " database works again",
                job.id,
                job.kind,
                exc,
            )
            self.unsettled.append((job, write))
            self.wakeup.set()

    def _succeeded(self, job: Job, outcome: Outcome) -> None:
        queue.finish(self.ctx.store, job, outcome.result, outcome.message, outcome.logged)
        self.ctx.note_success(job.company_id)
        for service in outages.record_success(
            self.ctx.store, job.company_id, job.kind, job.entity_id
        ):
            self._recovered(job.company_id, service)

    def _transient(self, job: Job, exc: TransientError) -> None:
        self.ctx.note_failure(job.company_id, exc)
        if exc.service:
            outages.record_failure(
                self.ctx.store,
                job.company_id,
                exc.service,
                job.kind,
                job.entity_id,
                exc.message,
                exc.status == 429 or "rate limit" in exc.message,
            )
        cause = f"outage:{exc.service}" if exc.service else ""
        self._retry_or_fail(job, exc.message, exc.retry_after, cause)

    def _permanent(self, job: Job, exc: ApiError) -> None:
        self.ctx.note_failure(job.company_id, exc)
        self._record_failure(job, exc.message, key_cause(exc))

    def _recovered(self, company_id: int, service: str) -> None:
        """The service answers again: the changes waiting on it go now, and those that gave
        up during the outage are retried by themselves."""
        store = self.ctx.store
        queue.try_waiting_now(store, company_id)
        if queue.retry_failed(store, company_id, cause=f"outage:{service}"):
            log.info("company %s: %s answers again; retrying what failed", company_id, service)
        self.wake()

    def _retry_or_fail(
        self, job: Job, message: str, retry_after: float | None, cause: str = ""
    ) -> None:
        if job.attempts >= MAX_ATTEMPTS:
            self._record_failure(
                job,
                f"{message} (gave up after {job.attempts} attempts)",
                cause,
            )
            return
        delay = backoff(job.attempts, self.ctx.config.backoff_scale)
        if retry_after is not None:
            delay = max(delay, retry_after)
        queue.retry_later(self.ctx.store, job, delay, message)
        log.info(
            "job %s (%s) will retry in %.1f s: %s",
            job.id,
            job.kind,
            delay,
            message,
            extra={
                "fields": {"job_id": job.id, "company_id": job.company_id, "attempt": job.attempts}
            },
        )

    def _record_failure(self, job: Job, message: str, cause: str = "") -> None:
        queue.fail(self.ctx.store, job, message, cause)
        outages.forget_entity(self.ctx.store, job.company_id, job.kind, job.entity_id)
        log.warning(
            "job %s (%s) failed: %s",
            job.id,
            job.kind,
            message,
            extra={"fields": {"job_id": job.id, "company_id": job.company_id}},
        )
        if job.kind == "person":
            people.note_error(self.ctx.store, job.company_id, int(job.entity_id), message)
