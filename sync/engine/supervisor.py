"""Keeps a long-running loop (the worker's) running: a crash is logged, the loop restarts after
a growing pause, and `failing` says so while it keeps crashing (/healthz shows it)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("pipedrive_maileon.worker")

RESTART_PAUSE = 0.5  # doubling per crash in a row, up to MAX_RESTART_PAUSE
MAX_RESTART_PAUSE = 30.0
FAILING_AFTER = 3  # crashes in a row before the loop counts as failing
STABLE_AFTER = 300.0  # a loop that ran this long before crashing starts a new count


class Supervisor:
    def __init__(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.loop = loop
        self.streak = 0  # crashes in a row
        self.last_crash = 0.0  # monotonic
        self.last_error = ""
        self.stopping = False

    def failing(self) -> str | None:
        """The last error while the loop keeps crashing (recently, several times in a row)."""
        recent = time.monotonic() - self.last_crash < STABLE_AFTER
        return self.last_error if self.streak >= FAILING_AFTER and recent else None

    async def run(self) -> None:
        """Run the loop until `stopping`; restart it after each crash."""
        while not self._stopped():
            started = time.monotonic()
            try:
                await self.loop()
                if self._stopped():
                    return
                error: Exception = RuntimeError("the loop ended without a stop")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = exc
            await asyncio.sleep(self._crashed(error, time.monotonic() - started))

    def _stopped(self) -> bool:
        return self.stopping

    def _crashed(self, exc: Exception, ran: float) -> float:
        if ran >= STABLE_AFTER:
            self.streak = 0
        self.streak += 1
        self.last_crash = time.monotonic()
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        pause = min(MAX_RESTART_PAUSE, RESTART_PAUSE * 2.0 ** (self.streak - 1))
        log.critical(
            "the %s crashed (%d in a row); it restarts in %.1f s",
            self.name,
            self.streak,
            pause,
            exc_info=exc,
        )
        return pause
