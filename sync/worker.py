"""The in-process worker: leases due jobs from the durable queue and runs them with bounded
concurrency; retries with exponential backoff and jitter (honouring Retry-After), ends a job as
failed after MAX_ATTEMPTS or on a permanent error. A crash leaves leases that the next start hands
back; a stop (SIGTERM) lets running jobs finish and hands back the leases of those that cannot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from clients.errors import ApiError, TransientError
from store import outages, people, queue
from store.queue import Job
from sync.context import Context
from sync.outcome import Outcome
from sync.slots import holds_slot

log = logging.getLogger("pipedrive_maileon.worker")

Handler = Callable[[Context, Job], Awaitable[Outcome]]
MAX_ATTEMPTS = 20  # with backoff capped at 15 min: about 3 hours of transient failures
LEASE_SECONDS = 120.0
BASE_DELAY = 2.0
MAX_DELAY = 900.0
# On stop, running jobs get this long to finish: with the HTTP drain before it, the process exits
# well inside the ~30 s a platform allows between SIGTERM and SIGKILL.
STOP_GRACE = 12.0


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
        self.not_started: set[asyncio.Task[None]] = set()  # leased ahead, waiting for a slot
        self.heartbeat = 0.0
        self.sleep_until = 0.0  # epoch seconds the loop waits until unless woken
        self._stopping = False

    def wake(self, due_at: float | None = None) -> None:
        """New work was queued (due at `due_at`, or now). With every slot busy the next
        finished job wakes the loop anyway (`_done`), and a job due after the loop's planned
        wake-up waits for it, so a burst of webhooks does not re-scan the queue on every
        event."""
        if self.slots.free() > 0 and (due_at is None or due_at < self.sleep_until):
            self.wakeup.set()

    def slot_freed(self) -> None:
        """A slot came free (a job ended, or waits for a shared call without its slot)."""
        self.wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            self.heartbeat = time.time()
            limit = self.slots.lease_limit()
            jobs = (
                queue.lease(
                    self.ctx.store,
                    limit,
                    LEASE_SECONDS,
                    self.slots.per_company,
                    chunk=self.slots.ahead or 1,
                )
                if limit > 0
                else []
            )
            started = min(self.slots.free(), len(jobs))
            self.slots.take(started)
            for n, job in enumerate(jobs):
                task = asyncio.create_task(self._run_one(job, ahead=n >= started))
                self.running.add(task)
                if n >= started:
                    self.not_started.add(task)
                task.add_done_callback(self._done)
            self.slots.admit_returning()
            if jobs and self.slots.free() > 0:
                continue
            due_in = queue.next_due_in(self.ctx.store)
            timeout = 1.0 if due_in is None else min(1.0, max(0.01, due_in))
            self.sleep_until = time.time() + timeout
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self.not_started.discard(task)
        self.slots.release()  # wakes the loop unless a parked job takes the slot

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop leasing; running jobs get `grace` seconds to finish, the rest are cancelled and
        their leases handed back, so the next start runs them at once (nothing is lost)."""
        self._stopping = True
        self.slots.leasing = False
        # jobs leased ahead that have not started are handed back, not started now
        not_started = list(self.not_started)
        for task in not_started:
            task.cancel()
        if not_started:
            await asyncio.wait(not_started, timeout=2)
        self.slots.admit_returning()
        self.wakeup.set()
        if not self.running:
            if not_started:
                queue.release_leases(self.ctx.store)  # every running lease left is ours
            return
        log.info("stopping: waiting up to %.0f s for %d running job(s)", grace, len(self.running))
        _, unfinished = await asyncio.wait(self.running, timeout=grace)
        if not unfinished:
            if not_started:
                queue.release_leases(self.ctx.store)
            return
        for task in unfinished:
            task.cancel()
        await asyncio.wait(unfinished, timeout=2)
        # One process owns the database (store/instance.py): every running lease is ours.
        released = queue.release_leases(self.ctx.store)
        log.warning(
            "stopped with %d job(s) unfinished; %d lease(s) handed back for the next start",
            len(unfinished),
            released,
        )

    async def _run_one(self, job: Job, ahead: bool = False) -> None:
        holds_slot.set(True)  # this task's own context: it may park (sync/slots.py)
        if ahead:  # leased beyond the free slots: it waits for one first
            await self.slots.first_slot(job.company_id)
            self.not_started.discard(asyncio.current_task())
        store = self.ctx.store
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                queue.fail(store, job, f"unknown job kind {job.kind!r}")
                return
            outcome = await handler(self.ctx, job)
            queue.finish(store, job, outcome.result, outcome.message, outcome.logged)
            self.ctx.note_success(job.company_id)
            outages.record_success(store, job.company_id, job.kind, job.entity_id)
        except TransientError as exc:
            self.ctx.note_failure(job.company_id, exc)
            if exc.service:
                outages.record_failure(
                    store,
                    job.company_id,
                    exc.service,
                    job.kind,
                    job.entity_id,
                    exc.message,
                    exc.status == 429 or "rate limit" in exc.message,
                )
            self._retry_or_fail(job, exc.message, exc.retry_after)
        except ApiError as exc:  # permanent: re-authorization, refused data, missing key
            self.ctx.note_failure(job.company_id, exc)
            self._record_failure(job, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            self._retry_or_fail(job, "an internal error occurred; it will be retried", None)

    def _retry_or_fail(self, job: Job, message: str, retry_after: float | None) -> None:
        if job.attempts >= MAX_ATTEMPTS:
            self._record_failure(job, f"{message} (gave up after {job.attempts} attempts)")
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

    def _record_failure(self, job: Job, message: str) -> None:
        queue.fail(self.ctx.store, job, message)
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
