"""WAL checkpoints on their own thread: under a steady stream of webhook commits the WAL file
stays bounded (the disk does not fill during a burst), and every acknowledged event is in the
database file once the app stops."""

from __future__ import annotations

import os
import sqlite3

from store import queue
from store.checkpoints import Checkpointer
from store.db import Store
from store.queue import IncomingEvent
from tests.waiting import let_time_pass, wait_until

PAGE = 4096


def event(n: int) -> IncomingEvent:
    payload = '{"data": "' + "x" * 900 + f'", "n": {n}}}'
    return IncomingEvent(
        1, "pipedrive", f"pd2:{n}", "person.change", str(n % 50), payload, "person", payload,
        f"2026-01-01T00:00:{n % 60:02d}Z", "change",
    )  # fmt: skip


def test_the_wal_stays_bounded_during_a_steady_stream_and_nothing_is_lost(store: Store) -> None:
    writer_pages = 100
    checkpoints = Checkpointer(store, writer_pages=writer_pages)
    checkpoints.start()
    wal = store.path + "-wal"
    largest = 0
    try:
        for n in range(0, 3000, 5):  # ~15 MB of WAL pages without checkpoints
            queue.record_events(store, [event(i) for i in range(n, n + 5)])
            largest = max(largest, os.path.getsize(wal))
            let_time_pass(0.0002)  # a steady stream, not one burst
    finally:
        checkpoints.stop()
    # the WAL starts over at the writer's threshold; without it, it would grow to ~15 MB
    assert largest < 4 * writer_pages * PAGE
    store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with sqlite3.connect(store.path) as fresh:
        assert fresh.execute("SELECT count(*) FROM events").fetchone()[0] == 3000
    assert store.scalar("PRAGMA wal_autocheckpoint") == 1000  # the default again after stop


def test_the_thread_copies_committed_pages_into_the_database_file_by_itself(
    store: Store,
) -> None:
    """The commits themselves never checkpoint here (the writer's threshold is out of reach),
    yet the database file takes the new pages within moments: the thread does that work."""
    checkpoints = Checkpointer(store, writer_pages=1_000_000)
    checkpoints.start()
    try:
        before = os.path.getsize(store.path)
        for n in range(0, 500, 5):
            queue.record_events(store, [event(i) for i in range(n, n + 5)])
        wait_until(lambda: os.path.getsize(store.path) >= before + 100 * PAGE, timeout=5)
    finally:
        checkpoints.stop()
