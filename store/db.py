"""The SQLite connection: WAL, one connection behind a lock, short write transactions.

`synchronous=NORMAL` in WAL mode: a commit is in the WAL file before `COMMIT` returns, so a
process crash (kill -9) never loses an acknowledged webhook; only an OS crash or power cut may
lose the last few transactions. FULL would fsync each commit (measured in bench/intake.py).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from store.crypto import SecretBox
from store.migrations import migrations

IN_CHUNK = 500  # values per `IN (...)` query


def private_folder(folder: Path) -> None:
    """Create `folder` and any missing parent as 0700 (whatever the umask); an existing folder
    is left as it is (the operator chose its mode)."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for each in reversed(missing):
        each.mkdir(mode=0o700, exist_ok=True)
        os.chmod(each, 0o700)  # mkdir's mode is masked by the umask


def create_private(path: str) -> None:
    """The database file readable by its owner only (0600), and its folder (0700) when the app
    creates it. SQLite gives its -wal and -shm files the database file's permissions."""
    private_folder(Path(path).parent)
    if not Path(path).exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class Store:
    def __init__(self, path: str, box: SecretBox, synchronous: str = "NORMAL") -> None:
        if path != ":memory:":
            create_private(path)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        self.path = path
        self.box = box
        self.lock = threading.RLock()
        if path != ":memory:":
            self.db.enable_wal()
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        with self.lock:
            migrations.apply(self.db)

    @contextmanager
    def tx(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction; all-or-nothing."""
        with self.lock, self.db.atomic():
            yield self.db

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        with self.lock:
            row = self.db.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.db.execute(sql, params).fetchall()]

    def all_in(self, sql: str, key: Any, values: Sequence[Any]) -> list[dict[str, Any]]:
        """The rows of `sql` for `values`: its one parameter takes `key`, and `{marks}` stands
        for the values' placeholders, queried IN_CHUNK at a time (SQLite's variable limit)."""
        rows: list[dict[str, Any]] = []
        for at in range(0, len(values), IN_CHUNK):
            chunk = values[at : at + IN_CHUNK]
            rows += self.all(sql.format(marks=",".join("?" * len(chunk))), (key, *chunk))
        return rows

    def scalar(self, sql: str, params: Any = ()) -> Any:
        with self.lock:
            row = self.db.execute(sql, params).fetchone()
        return row[0] if row is not None else None

    def execute(self, sql: str, params: Any = ()) -> int:
        with self.lock:
            return self.db.execute(sql, params).rowcount

    def ping(self) -> None:
        """Raises when the database cannot answer (the health check)."""
        self.scalar("SELECT 1")

    def close(self) -> None:
        with self.lock:
            self.db.conn.close()


# This process's clock: the wall clock when it started plus monotonic time since. Due times,
# leases and debounce windows are compared with it, so a wall-clock step while the app runs
# (NTP, a VM resumed) neither re-runs a live job (forward) nor holds back due changes
# (backward); the next start takes up the wall clock again.
_ANCHOR = time.time() - time.monotonic()


def now() -> float:
    """Epoch seconds on this process's clock (see `_ANCHOR`)."""
    return _ANCHOR + time.monotonic()
