"""The worker's concurrency as slots, one per running job.

A job that waits for a call shared with other jobs (the new-contacts batch,
sync/persons/new_contacts.py) gives its slot back meanwhile, so the worker leases the jobs that fill
the batch instead of sitting on eight jobs that all wait for one call; so does a job waiting for a
person's lock (`hold`). Before it goes on, the job takes a slot again, so no more than `size`
jobs ever work at once. Freed slots alternate between such returning jobs and the worker's leases,
which are fair across companies; the waiting jobs take them oldest lease first (`JobSlot.rank`),
so the chunk leased first reaches its call, and finishes, before the next one, instead of ten
chunks each creeping on and each company's batch leaving in pieces. The worker stops leasing
while `max_parked` jobs wait without a slot, which bounds what one process holds leased, and
leases no more jobs of a company that holds `per_company` already, so one company's slow calls
cannot fill that room for the others.
With free slots it leases a chunk of up to `ahead` jobs, and those beyond the free slots wait
for their first slot as returning jobs do (no lease meanwhile): one lease per chunk of jobs, so
leasing costs little per job however many companies there are, and a company's jobs arrive
together to fill its shared call.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import Counter
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
        # jobs waiting for a slot (leased ahead, or parked and going on): (rank, arrival, future)
        self.waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()
        # by company: its leased jobs that have neither reached its shared call nor ended
        # (`JobSlot`); the company's batch waits for them (sync/persons/new_contacts.py)
        self.coming: Counter[int] = Counter()
        self.leasing = True  # False once the worker stops: every slot goes to returning jobs
        self.on_free: Callable[[], None] = lambda: None  # the worker's wake-up
        self._returners_turn = False

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

    async def first_slot(self, rank: float) -> None:
        """A job leased ahead waits here for its first slot, with returning jobs (its company's
        shared call waits for it meanwhile: `coming`)."""
        self.queued += 1
        try:
            await self._take_back(rank)
        finally:
            self.queued -= 1

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
        """Give the slot to the waiting job of the oldest lease (lowest rank; between equals,
        the first to wait), whether it starts or goes on after its shared call."""
        while self.waiting:
            _, _, waiter = heapq.heappop(self.waiting)
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: `busy` stays
                return True
        return False

    @asynccontextmanager
    async def _parked(self, rank: float) -> AsyncIterator[None]:
        """Give a slot back for the body; take one again afterwards (`JobSlot.wait_for`)."""
        self.parked += 1
        # the worker is woken only if the slot is still free after this turn (no wait at all)
        self._pass_on(lambda: asyncio.get_running_loop().call_soon(self._wake_if_free))
        try:
            yield
        finally:
            self.parked -= 1
            await self._take_back(rank)

    def _wake_if_free(self) -> None:
        if self.busy < self.size:  # for a lease, or a returning job the worker lets in
            self.on_free()

    async def _take_back(self, rank: float) -> None:
        if self.busy < self.size and not self.waiting:
            self.busy += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (rank, next(self._arrivals), waiter))
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

    def __init__(self, slots: Slots, company_id: int | None = None, rank: float = 0.0) -> None:
        self.slots = slots
        self.rank = rank  # its lease's: waiting for a slot, lower goes first
        self.held = True  # False while given back (a wait under way)
        self.company_locks = 0  # company locks this job holds: no person lock under them
        self.company_id = company_id  # a worker job's: counted in `Slots.coming` until
        if company_id is not None:  # it reaches its company's shared call or ends
            slots.coming[company_id] += 1

    def arrived(self) -> None:
        """The job reached its company's shared call, or ended: the call waits no more for
        it. (Once: later calls do nothing.)"""
        company_id, self.company_id = self.company_id, None
        if company_id is not None:
            self.slots.coming[company_id] -= 1
            if not self.slots.coming[company_id]:
                del self.slots.coming[company_id]

    async def wait_for(self, awaitable: Awaitable[T]) -> T:
        if not self.held:  # already given back by an enclosing wait
            return await awaitable
        self.held = False
        try:
            async with self.slots._parked(self.rank):
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
