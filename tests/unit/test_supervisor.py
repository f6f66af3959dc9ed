"""The worker's loop is supervised: a crash is logged and the loop restarts; while it keeps
crashing, the supervisor says so (/healthz shows it as the worker failing)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sync.engine import supervisor
from sync.engine.supervisor import Supervisor


def test_a_crashing_loop_restarts_and_is_reported_failing_after_three_crashes_in_a_row(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(supervisor, "RESTART_PAUSE", 0.001)
    seen: list[str | None] = []

    async def scenario() -> int:
        runs = 0
        running = asyncio.Event()

        async def loop() -> None:
            nonlocal runs
            runs += 1
            seen.append(sup.failing())
            if runs <= 3:
                raise RuntimeError(f"crash {runs}")
            running.set()
            while not sup.stopping:
                await asyncio.sleep(0)

        sup = Supervisor("worker loop", loop)
        task = asyncio.create_task(sup.run())
        await asyncio.wait_for(running.wait(), 5)
        seen.append(sup.failing())
        sup.stopping = True
        await asyncio.wait_for(task, 5)
        return runs

    with caplog.at_level(logging.CRITICAL):
        assert asyncio.run(scenario()) == 4
    # failing after the third crash in a row, while the fourth run goes on
    assert seen == [None, None, None, "RuntimeError: crash 3", "RuntimeError: crash 3"]
    crashes = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert crashes[0].getMessage().startswith("the worker loop crashed (1 in a row)")
    assert len(crashes) == 3


def test_a_loop_that_ends_without_a_stop_is_restarted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "RESTART_PAUSE", 0.001)

    async def scenario() -> int:
        runs = 0

        async def loop() -> None:
            nonlocal runs
            runs += 1
            if runs == 2:
                sup.stopping = True

        sup = Supervisor("worker loop", loop)
        await asyncio.wait_for(sup.run(), 5)
        return runs

    assert asyncio.run(scenario()) == 2
