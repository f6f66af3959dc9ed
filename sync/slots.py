"""The worker's concurrency as slots, one per running job.

A job that waits for a call shared with other jobs (the new-contacts batch, sync/new_contacts.py)
gives its slot back meanwhile, so the worker leases the jobs that fill the batch instead of
sitting on eight jobs that all wait for one call; so does a job waiting for a person's lock
(`holding`). Before it goes on, the job takes a slot again, ahead of new leases, so no more
than `size` jobs ever work at once. The worker stops leasing while `max_parked` jobs wait that
way, which bounds what one process holds leased.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

holds_slot: ContextVar[bool] = ContextVar("holds_slot", default=False)  # set by the worker's jobs


class Slots:
    def __init__(self, size: int, max_parked: int) -> None:
        self.size = size
        self.max_parked = max_parked
        self.busy = 0  # slots held by running jobs
        self.parked = 0  # jobs waiting without a slot (for a shared call or a lock)
        self.returning: deque[asyncio.Future[None]] = deque()  # parked jobs waiting for a slot
        self.on_free: Callable[[], None] = lambda: None  # the worker's wake-up

    def free(self) -> int:
        """How many jobs the worker may lease now."""
        if self.parked >= self.max_parked:
            return 0
        return max(0, self.size - self.busy - len(self.returning))

    def take(self, count: int) -> None:
        self.busy += count

    def release(self) -> None:
        """A job ended: its slot goes to a returning job first, else back to the worker."""
        if not self._hand_over():
            self.busy -= 1
            self.on_free()

    def _hand_over(self) -> bool:
        while self.returning:
            waiter = self.returning.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: `busy` stays
                return True
        return False

    @asynccontextmanager
    async def parked_while_waiting(self) -> AsyncIterator[None]:
        """Give the slot back for the body; take one again afterwards. Code that does not run
        as a worker job holds no slot and just waits."""
        if not holds_slot.get():
            yield
            return
        self.parked += 1
        if not self._hand_over():
            self.busy -= 1
            asyncio.get_running_loop().call_soon(self._wake_if_free)  # not if the wait was none
        try:
            yield
        finally:
            self.parked -= 1
            await self._take_back()

    @asynccontextmanager
    async def holding(self, lock: asyncio.Lock) -> AsyncIterator[None]:
        """Hold `lock`, waiting for it without a slot: the holder may be a parked job that
        needs a slot to finish, and jobs waiting for such locks on every slot would wait
        forever. So a job holds its slot only while it computes or waits for its own call."""
        acquired = False
        try:
            async with self.parked_while_waiting():
                acquired = await lock.acquire()
            yield
        finally:
            if acquired:  # also when cancelled while taking a slot back
                lock.release()

    def _wake_if_free(self) -> None:
        if self.free() > 0:
            self.on_free()

    async def _take_back(self) -> None:
        if self.busy < self.size and not self.returning:
            self.busy += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.returning.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if not (waiter.done() and not waiter.cancelled()):
                self.busy += 1  # the job's end releases one slot: keep the count even
            raise
