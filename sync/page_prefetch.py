"""Reading an import's next Pipedrive page while the current one is prepared and saved.

Each import step is a job of its own (sync/backfill.py), and each page's cursor comes with the
page before it, so the reads are a chain. A step that has its page starts reading the next one
at once; the next step takes that read instead of starting its own. So the chain of reads does
not wait for each step's CPU, its save and the lease of the next job. At most one page per
import is read ahead (memory stays flat); a read nobody takes (the import stopped, the process
restarts) is simply lost, and a failed one fails the step that takes it, like its own read."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

Page = tuple[list[Any], str | None]


class PagePrefetch:
    def __init__(self) -> None:
        self.reads: dict[tuple[int, int], tuple[str, asyncio.Task[Page]]] = {}

    def start(self, key: tuple[int, int], cursor: str, read: Callable[[], Awaitable[Page]]) -> None:
        """Start reading the page at `cursor` for `key` (company, import), replacing any other."""
        self.drop(key)

        async def reading() -> Page:
            return await read()

        # a context of its own: not the job's (it holds no worker slot)
        task = asyncio.create_task(reading(), context=contextvars.Context())
        task.add_done_callback(_retrieve)
        self.reads[key] = (cursor, task)

    async def take(
        self, key: tuple[int, int], cursor: str | None, read: Callable[[], Awaitable[Page]]
    ) -> Page:
        """The page at `cursor`: the read started ahead for it, or a read now."""
        ahead = self.reads.pop(key, None)
        if ahead is not None and cursor and ahead[0] == cursor:
            return await ahead[1]
        if ahead is not None:
            ahead[1].cancel()
        return await read()

    def drop(self, key: tuple[int, int]) -> None:
        ahead = self.reads.pop(key, None)
        if ahead is not None:
            ahead[1].cancel()


def _retrieve(task: asyncio.Task[Page]) -> None:
    """A read nobody takes must not be reported as an unretrieved exception."""
    if not task.cancelled():
        task.exception()
