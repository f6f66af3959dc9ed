"""Worker slots: a job waiting for a shared call lets the worker lease another job, and takes a
slot again before it goes on, ahead of new leases; never more than `size` jobs work at once."""

from __future__ import annotations

import asyncio

from sync.slots import Slots, holds_slot


def test_a_parked_job_frees_its_slot_and_returns_ahead_of_new_leases() -> None:
    async def scenario() -> list[str]:
        slots = Slots(size=2, max_parked=10)
        seen: list[str] = []
        shared_call: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def job(name: str) -> None:
            holds_slot.set(True)
            async with slots.parked_while_waiting():
                await shared_call
            seen.append(f"{name} working, {slots.busy} busy")

        slots.take(2)  # the worker leased two jobs
        jobs = [asyncio.create_task(job("a")), asyncio.create_task(job("b"))]
        await asyncio.sleep(0)
        seen.append(f"both parked: {slots.free()} free")
        slots.take(2)  # the worker leased two more meanwhile (they keep working)
        shared_call.set_result(None)
        await asyncio.sleep(0)
        seen.append(f"call returned: {slots.free()} free, {len(slots.returning)} returning")
        slots.release()  # one of the new jobs ends: its slot goes to a returning job
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*jobs)
        slots.release()
        slots.release()
        seen.append(f"all done: {slots.busy} busy, {slots.free()} free")
        return seen

    assert asyncio.run(scenario()) == [
        "both parked: 2 free",
        "call returned: 0 free, 2 returning",
        "a working, 2 busy",
        "b working, 2 busy",
        "all done: 0 busy, 2 free",
    ]


def test_outside_a_worker_job_nothing_is_parked() -> None:
    async def scenario() -> int:
        slots = Slots(size=1, max_parked=10)
        async with slots.parked_while_waiting():
            return slots.free()

    assert asyncio.run(scenario()) == 1


def test_the_worker_stops_leasing_when_enough_jobs_wait() -> None:
    async def scenario() -> int:
        slots = Slots(size=8, max_parked=1)
        holds_slot.set(True)
        slots.take(1)
        async with slots.parked_while_waiting():
            return slots.free()

    assert asyncio.run(scenario()) == 0
