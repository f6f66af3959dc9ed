"""The worker's concurrency as slots, one per running job.

A job that waits for a call shared with other jobs (the new-contacts batch,
sync/persons/new_contacts.py) gives its slot back meanwhile, so the worker leases the jobs that fill
the batch instead of sitting on eight jobs that all wait for one call; so does a job waiting for a
person's lock (`hold`). Before it goes on, the job takes a slot again, so no more than `size`
jobs ever work at once. Freed slots alternate between such returning jobs and the worker's leases,
which are fair across companies. The worker stops leasing while `max_parked` jobs wait without a
slot, which bounds what one process holds leased, and leases no more jobs of a company that
holds `per_company` already, so one company's slow calls cannot fill that room for the others.
With free slots it leases a chunk of up to `ahead` jobs, and those beyond the free slots wait
for their first slot as returning jobs do (no lease meanwhile): one lease per chunk of jobs, so
leasing costs little per job however many companies there are, and a company's jobs arrive
together to fill its shared call.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


class SharedLock:
    """An asyncio.Lock that knows whether anyone holds or waits for it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # the holder and the waiters


class Slots:
    def __init__(self, size: int, max_parked: int, per_company: int, ahead: int = 0) -> None:
        self.size = size
        self.max_parked = max_parked
        self.per_company = per_company  # jobs one company may hold, working or parked
        self.ahead = ahead  # jobs the worker may lease beyond its free slots (`room`)
        self.busy = 0  # slots held by running jobs
        self.parked = 0  # jobs waiting without a slot (for a shared call or a lock)
        self.queued = 0  # jobs leased ahead, waiting for their first slot
        self.returning: deque[asyncio.Future[None]] = deque()  # parked jobs waiting for a slot
        self.starting: deque[asyncio.Future[None]] = deque()  # leased ahead, before returning
        self.starting_for: Counter[int] = Counter()  # those, by company
        self.leasing = True  # False once the worker stops: every slot goes to returning jobs
        self.on_free: Callable[[], None] = lambda: None  # the worker's wake-up
        self._returners_turn = False
        self._starters_turn = False

    def free(self) -> int:
        """How many jobs the worker may lease now and start at once."""
        if self.parked + self.queued >= self.max_parked:
            return 0
        return max(0, self.size - self.busy)

    def lease_limit(self) -> int:
        """How many jobs the worker may lease now: none while jobs leased ahead still wait for
        their first slot; else the free slots, or a chunk of `ahead` jobs that start as slots
        come free. One lease per chunk instead of one per freed slot, and a company's jobs in
        a chunk together (store/queue.py `lease`), so they fill its shared call."""
        free = self.free()
        if free == 0 or self.queued:
            return 0
        return max(free, min(self.ahead, self.max_parked - self.parked))

    async def first_slot(self, company_id: int) -> None:
        """A job leased ahead waits here for its first slot, taking turns with returning jobs;
        its company's shared call waits for it (`starting_for`)."""
        self.queued += 1
        self.starting_for[company_id] += 1
        try:
            await self._take_back(self.starting)
        finally:
            self.queued -= 1
            self.starting_for[company_id] -= 1
            if not self.starting_for[company_id]:
                del self.starting_for[company_id]

    def take(self, count: int) -> None:
        self.busy += count

    def release(self) -> None:
        """A job ended: its slot comes free (`_pass_on`)."""
        self._pass_on(lambda: self.on_free())

    def admit_returning(self) -> None:
        """The worker leased what was due: returning jobs take the slots left free."""
        while self.busy < self.size and self._hand_over():
            self.busy += 1

    def _pass_on(self, wake: Callable[[], object]) -> None:
        """A slot comes free: every other one goes straight to a returning job, the rest to
        the worker, which leases fairly across companies (a returning batch of one company
        must not hold back another company's change) and lets returning jobs have what it
        does not lease."""
        self._returners_turn = not self._returners_turn
        if (self._returners_turn or not self.leasing) and self._hand_over():
            return
        self.busy -= 1
        wake()

    def _hand_over(self) -> bool:
        """Give the slot to a waiting job: in turn one leased ahead (its chunk fills its
        company's call) and one returning (its call came back, it can finish)."""
        self._starters_turn = not self._starters_turn
        lines = (self.starting, self.returning)
        for waiting in lines if self._starters_turn else lines[::-1]:
            while waiting:
                waiter = waiting.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot changes hands: `busy` stays
                    return True
        return False

    @asynccontextmanager
    async def _parked(self) -> AsyncIterator[None]:
        """Give a slot back for the body; take one again afterwards (`JobSlot.wait_for`)."""
        self.parked += 1
        # the worker is woken only if the slot is still free after this turn (no wait at all)
        self._pass_on(lambda: asyncio.get_running_loop().call_soon(self._wake_if_free))
        try:
            yield
        finally:
            self.parked -= 1
            await self._take_back()

    def _wake_if_free(self) -> None:
        if self.busy < self.size:  # for a lease, or a returning job the worker lets in
            self.on_free()

    async def _take_back(self, line: deque[asyncio.Future[None]] | None = None) -> None:
        if self.busy < self.size and not self.returning and not self.starting:
            self.busy += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self.returning if line is None else line).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if not (waiter.done() and not waiter.cancelled()):
                self.busy += 1  # the job's end releases one slot: keep the count even
            raise


class LockOrderError(RuntimeError):
    """A person lock asked for under a company lock: the order that can deadlock."""


class JobSlot:
    """A running job's worker slot, handed to its handler explicitly (`Context.for_job`).

    The one way to wait on another job - a person lock, a company lock, a batch call - is
    `wait_for`, which gives the slot back while waiting and takes one again before the job goes
    on: the holder may be a parked job that needs a slot to finish, and jobs waiting on every
    slot would wait forever. Code without a JobSlot (a request, a removal task) holds no slot
    and just waits."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots
        self.held = True  # False while given back (a wait under way)
        self.company_locks = 0  # company locks this job holds: no person lock under them

    async def wait_for(self, awaitable: Awaitable[T]) -> T:
        if not self.held:  # already given back by an enclosing wait
            return await awaitable
        self.held = False
        try:
            async with self.slots._parked():
                return await awaitable
        finally:
            self.held = True


async def wait_for(slot: JobSlot | None, awaitable: Awaitable[T]) -> T:
    """Wait on another job: without the slot when there is one."""
    if slot is None:
        return await awaitable
    return await slot.wait_for(awaitable)


@asynccontextmanager
async def hold(
    lock: SharedLock, slot: JobSlot | None, company: bool = False
) -> AsyncIterator[None]:
    """Hold `lock`; a wait for it goes through `wait_for`. A free lock is taken at once, slot
    and all. Locks nest one way only: a company lock may be taken under a person lock, never a
    person lock under a company lock (two jobs taking them in opposite orders would wait for
    each other forever)."""
    if slot is not None and not company and slot.company_locks:
        raise LockOrderError("a person lock under a company lock")
    contended = lock.users > 0  # held or waited for (asyncio.Lock queues behind waiters)
    lock.users += 1
    acquired = False

    async def acquire() -> None:
        nonlocal acquired
        acquired = await lock.lock.acquire()  # set before the slot is taken back

    try:
        await (wait_for(slot, acquire()) if contended else acquire())
        if slot is not None and company:
            slot.company_locks += 1
        try:
            yield
        finally:
            if slot is not None and company:
                slot.company_locks -= 1
    finally:
        if acquired:  # also when cancelled while taking a slot back
            lock.lock.release()
        lock.users -= 1


async def lock_passed(lock: SharedLock) -> None:
    """Wait until those holding or waiting for `lock` before us are done; hold nothing after.
    (The jobs that wait for a cache entry being filled: they read it, one by one would make
    each take a worker slot before the next may go on.)"""
    lock.users += 1
    try:
        async with lock.lock:
            pass
    finally:
        lock.users -= 1
