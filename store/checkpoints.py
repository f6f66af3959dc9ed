"""WAL checkpoints on a thread of their own.

SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL past 1000 pages: that
commit copies the pages into the database file and fsyncs it on the event loop, while every
webhook waiting for that commit waits too (issue 14's intake p99). This thread checkpoints from
a second connection every few milliseconds instead. Python's sqlite3 releases the GIL while
SQLite works, so the copy and the fsync overlap the event loop, and PASSIVE mode never blocks
the writer. Durability is unchanged: a commit is in the WAL before it returns (store/db.py).

Under a steady stream of commits a passive checkpoint never quite catches up, so the WAL would
never start over. The app's connection therefore keeps a larger automatic checkpoint
(`WRITER_PAGES`): by then it has only the last few milliseconds' pages left to copy, and the
WAL restarts from its beginning. The same setting bounds the WAL if this thread ever stops.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading

from store.db import Store

log = logging.getLogger("store.checkpoints")

INTERVAL = 0.01  # seconds between looks at the WAL; a checkpoint only when it was written
WRITER_PAGES = 4000  # ≈ 16 MB of WAL: the app's connection finishes the checkpoint itself
DEFAULT_PAGES = 1000  # SQLite's default, restored on stop


class Checkpointer:
    """Checkpoints the store's WAL every `interval` seconds while the app runs."""

    def __init__(
        self, store: Store, interval: float = INTERVAL, writer_pages: int = WRITER_PAGES
    ) -> None:
        self.store = store
        self.interval = interval
        self.writer_pages = writer_pages
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)

    def start(self) -> None:
        if self.store.path == ":memory:":
            return
        self.store.execute(f"PRAGMA wal_autocheckpoint={self.writer_pages}")
        self.thread.start()

    def stop(self) -> None:
        """Stop the thread; the app's connection checkpoints at SQLite's default again."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.store.execute(f"PRAGMA wal_autocheckpoint={DEFAULT_PAGES}")

    def _run(self) -> None:
        try:
            own = sqlite3.connect(self.store.path, isolation_level=None, timeout=5)
        except sqlite3.Error as exc:
            log.warning("WAL checkpoints stay with the app's connection: %s", exc)
            return
        seen = None
        try:
            while not self.stopping.wait(self.interval):
                written = self._wal_written()
                if written != seen:  # an idle app checkpoints nothing (100 queries a second)
                    # a checkpoint a reader held back is tried again at the next look
                    seen = written if self._checkpoint(own) else None
            self._checkpoint(own)
        except Exception:
            log.exception("WAL checkpoints stopped; the app's connection checkpoints alone")
        finally:
            own.close()

    def _wal_written(self) -> tuple[int, int] | None:
        """When and how far the WAL was last written (None while there is none)."""
        try:
            stat = os.stat(self.store.path + "-wal")
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    @staticmethod
    def _checkpoint(own: sqlite3.Connection) -> bool:
        """True when every frame of the WAL is in the database file now."""
        try:
            row = own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.OperationalError as exc:  # busy (a backup, say): next time
            log.debug("WAL checkpoint skipped: %s", exc)
            return False
        return row is not None and row[0] == 0 and row[1] == row[2]
