"""Worker slots: a job waiting for a shared call lets the worker lease another job, and takes a
slot again before it goes on; freed slots alternate between such returning jobs and the
worker's leases; never more than `size` jobs work at once."""

from __future__ import annotations

import asyncio

import pytest

from sync.engine.slots import JobSlot, LockOrderError, SharedLock, Slots, hold, wait_for
from tests.waiting import next_turn


def test_a_parked_job_frees_its_slot_and_returning_jobs_share_freed_slots_with_leases() -> None:
    async def scenario() -> list[str]:
        slots = Slots(size=2, max_parked=10, per_company=10)
        seen: list[str] = []
        shared_call: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def job(name: str) -> None:
            await JobSlot(slots).wait_for(shared_call)
            seen.append(f"{name} working, {slots.busy} busy")

        slots.take(2)  # the worker leased two jobs
        jobs = [asyncio.create_task(job("a")), asyncio.create_task(job("b"))]
        await next_turn()
        seen.append(f"both parked: {slots.free()} free")
        slots.take(2)  # the worker leased two more meanwhile (they keep working)
        shared_call.set_result(None)
        await next_turn()
        seen.append(f"call returned: {slots.free()} free, {len(slots.waiting)} returning")
        slots.release()  # a new job ends: its slot goes straight to a returning job
        await next_turn()
        slots.release()  # the next one: to the worker, for a fair lease
        seen.append(f"one for the worker: {slots.free()} free, {len(slots.waiting)} returning")
        slots.admit_returning()  # nothing was due: the returning job takes it
        await asyncio.gather(*jobs)
        slots.release()
        slots.release()
        seen.append(f"all done: {slots.busy} busy, {slots.free()} free")
        return seen

    assert asyncio.run(scenario()) == [
        "both parked: 2 free",
        "call returned: 0 free, 2 returning",
        "a working, 2 busy",
        "one for the worker: 1 free, 1 returning",
        "b working, 2 busy",
        "all done: 0 busy, 2 free",
    ]


def test_once_the_worker_stops_every_freed_slot_goes_to_returning_jobs() -> None:
    async def scenario() -> int:
        slots = Slots(size=1, max_parked=10, per_company=10)
        shared_call: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def job() -> None:
            await JobSlot(slots).wait_for(shared_call)

        slots.take(1)
        parked = [asyncio.create_task(job()) for _ in range(1)]
        await next_turn()
        slots.take(1)  # leased into the freed slot
        shared_call.set_result(None)
        await next_turn()
        slots.leasing = False  # the worker stops
        slots.release()
        await asyncio.gather(*parked)
        return slots.busy

    assert asyncio.run(scenario()) == 1


def test_outside_a_worker_job_nothing_is_parked() -> None:
    async def scenario() -> int:
        slots = Slots(size=1, max_parked=10, per_company=10)

        async def free() -> int:
            return slots.free()

        return await wait_for(None, free())

    assert asyncio.run(scenario()) == 1


def test_the_worker_stops_leasing_when_enough_jobs_wait() -> None:
    async def scenario() -> int:
        slots = Slots(size=8, max_parked=1, per_company=10)
        slots.take(1)

        async def free() -> int:
            return slots.free()

        return await JobSlot(slots).wait_for(free())

    assert asyncio.run(scenario()) == 0


def test_a_chunk_leased_ahead_waits_for_slots_and_no_lease_comes_before_it_started() -> None:
    async def scenario() -> list[str]:
        slots = Slots(size=2, max_parked=10, per_company=10, ahead=5)
        seen = [f"may lease {slots.lease_limit()}"]
        slots.take(2)  # the worker leased 5: two start at once, three wait for a slot
        waiting = [asyncio.create_task(slots.first_slot(1)) for _ in range(3)]
        await next_turn()
        seen.append(f"{slots.queued} queued")
        slots.release()  # two jobs end: their slots go to the chunk, not to a new lease
        slots.release()
        slots.admit_returning()  # the worker, woken, leases nothing and lets them in
        await next_turn()
        seen.append(f"{slots.queued} queued, may lease {slots.lease_limit()}")
        slots.release()
        slots.release()
        slots.admit_returning()
        await asyncio.wait_for(asyncio.gather(*waiting), 5)
        seen.append(f"{slots.queued} queued, {slots.busy} busy, may lease {slots.lease_limit()}")
        return seen

    assert asyncio.run(scenario()) == [
        "may lease 5",
        "3 queued",
        "1 queued, may lease 0",
        "0 queued, 1 busy, may lease 5",
    ]


def test_a_job_waiting_for_any_lock_gives_its_slot_back() -> None:
    """Rule: a slot is never held by a job that waits for another job. With one slot, a job
    that waits for a lock held by a parked job frees the slot, so the holder can finish."""

    async def scenario(company: bool) -> list[str]:
        slots = Slots(size=1, max_parked=10, per_company=10)
        lock = SharedLock()
        seen: list[str] = []
        release: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def holder(slot: JobSlot) -> None:
            async with hold(lock, slot, company=company):
                await slot.wait_for(release)  # parked in a shared call, lock held
                seen.append(f"holder done, {slots.busy} busy")
            slots.release()  # the job ends (the worker's `_done`)

        async def waiter(slot: JobSlot) -> None:
            async with hold(lock, slot, company=company):
                seen.append(f"waiter has the lock, {slots.busy} busy")
            slots.release()

        slots.take(1)
        first = asyncio.create_task(holder(JobSlot(slots)))
        await next_turn()
        slots.take(1)  # the worker leased the next job into the freed slot
        second = asyncio.create_task(waiter(JobSlot(slots)))
        await next_turn()
        seen.append(f"waiting for the lock: {slots.free()} free")
        release.set_result(None)
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        return seen

    for company in (False, True):
        assert asyncio.run(scenario(company)) == [
            "waiting for the lock: 1 free",
            "holder done, 1 busy",
            "waiter has the lock, 1 busy",
        ]


def test_a_company_lock_may_be_taken_under_a_person_lock_never_the_reverse() -> None:
    async def scenario() -> None:
        slots = Slots(size=1, max_parked=10, per_company=10)
        slots.take(1)
        slot = JobSlot(slots)
        person, company = SharedLock(), SharedLock()
        async with hold(person, slot), hold(company, slot, company=True):
            pass
        async with hold(company, slot, company=True):
            with pytest.raises(LockOrderError):
                async with hold(person, slot):
                    pass
        async with hold(person, slot):  # the company lock is gone again
            pass

    asyncio.run(scenario())
