"""Group commit of concurrent webhooks: the events that arrive in the same turn of the event
loop are stored in one transaction, and each request waits for the commit that holds its event.
Nothing is answered before its commit; a failed commit fails every request in it (each gets a
500 and Pipedrive delivers again)."""

from __future__ import annotations

import asyncio

from store import queue
from store.db import Store
from store.queue import IncomingEvent


class GroupCommit:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.waiting: list[tuple[IncomingEvent, asyncio.Future[bool]]] = []

    async def record(self, event: IncomingEvent) -> bool:
        """Store the event and its job; False when it was a duplicate."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        if not self.waiting:  # the first of this turn: commit once the others joined
            loop.call_soon(self._commit)
        self.waiting.append((event, done))
        return await done

    def _commit(self) -> None:
        batch, self.waiting = self.waiting, []
        try:
            results = queue.record_events(self.store, [event for event, _ in batch])
        except Exception as exc:  # each waiting request raises it (a 500, logged once each)
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), stored in zip(batch, results, strict=True):
            if not done.done():  # a request whose client went away is stored all the same
                done.set_result(stored)
