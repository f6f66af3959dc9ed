"""Reading an import's next Pipedrive pages while the current one is prepared and saved.

Each import step is a job of its own (sync/runs/import_run.py), and each page's cursor comes with
the page before it, so the reads are a chain. A step that has its page starts reading the next
one; each read that comes back starts the one after it, up to DEPTH pages ahead; the next
step takes its read instead of starting its own. So the chain of reads does not wait for each
step's CPU, its Maileon batch, its save and the lease of the next job. At most DEPTH pages per
import wait in memory; a read nobody takes (the import stopped, the process restarts) is
simply lost, and a failed one fails the step that takes it, like its own read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Page = tuple[list[Any], str | None]
Reader = Callable[[str], Awaitable[Page]]
DEPTH = 2  # pages read ahead per import


class PagePrefetch:
    def __init__(self) -> None:
        # per (company, import): the reads ahead, by cursor, oldest first
        self.reads: dict[tuple[int, int], dict[str, asyncio.Task[Page]]] = {}

    def start(self, key: tuple[int, int], cursor: str, read: Reader) -> None:
        """Read the page at `cursor` ahead (unless it is read already or DEPTH are)."""
        chain = self.reads.setdefault(key, {})
        if cursor in chain or len(chain) >= DEPTH:
            return

        async def reading() -> Page:
            page = await read(cursor)
            if page[1] and self.reads.get(key) is chain:
                self.start(key, page[1], read)  # the chain goes on while there is room
            return page

        task = asyncio.create_task(reading())  # holds no worker slot: it waits on no job
        task.add_done_callback(_retrieve)
        chain[cursor] = task

    async def take(self, key: tuple[int, int], cursor: str | None, read: Reader) -> Page:
        """The page at `cursor`: the read started ahead for it, or a read now. A page read
        ahead for another cursor ends the chain (the import is somewhere else)."""
        chain = self.reads.get(key, {})
        task = chain.pop(cursor, None) if cursor else None
        if task is None:
            self.drop(key)
            return await read(cursor or "")
        self._extend(key, read)  # room again: the chain goes on from its newest page
        page = await task
        if page[1] and chain is self.reads.get(key):
            self.start(key, page[1], read)  # nothing was read ahead of it yet
        return page

    def _extend(self, key: tuple[int, int], read: Reader) -> None:
        chain = self.reads.get(key)
        if not chain:
            return
        newest = next(reversed(chain.values()))
        if newest.done() and not newest.cancelled() and newest.exception() is None:
            after = newest.result()[1]
            if after:
                self.start(key, after, read)

    def drop(self, key: tuple[int, int]) -> None:
        for task in self.reads.pop(key, {}).values():
            task.cancel()


def _retrieve(task: asyncio.Task[Page]) -> None:
    """A read nobody takes must not be reported as an unretrieved exception."""
    if not task.cancelled():
        task.exception()
