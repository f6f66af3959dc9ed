"""Group commit of concurrent webhooks: the events that arrive in the same turn of the event
loop are stored in one transaction, and each request waits for the commit that holds its event.
Nothing is answered before its commit. When a shared commit fails, its events are committed one
by one, so only a request whose own event cannot be stored answers 500 (and Pipedrive delivers
it again)."""

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
        except Exception as exc:
            if len(batch) == 1:
                self._settle(batch[0][1], None, exc)
                return
            for event, done in batch:  # one bad event must not fail the others: one by one
                try:
                    self._settle(done, queue.record_events(self.store, [event])[0], None)
                except Exception as exc:  # this request answers 500 (and is logged)
                    self._settle(done, None, exc)
            return
        for (_, done), stored in zip(batch, results, strict=True):
            self._settle(done, stored, None)

    @staticmethod
    def _settle(
        done: asyncio.Future[bool], stored: bool | None, error: BaseException | None
    ) -> None:
        if done.done():  # the client went away; the event is stored all the same
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(bool(stored))
