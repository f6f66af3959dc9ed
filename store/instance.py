"""One process per database: an exclusive lock on `<database>.lock`, held while the app runs.

The queue's leases assume one owner (`queue.release_leases` at startup hands back every
lease), so a second `serve` on the same file must refuse to start instead of sharing leases.
An OS lock (flock) dies with its process, so a process restarted after kill -9 starts at once.
The lock file sits beside the *resolved* database file, so a `DATABASE_PATH` that reaches the same
file through a symlink (or a relative path) meets the same lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from store.db import private_folder


class AlreadyRunning(Exception):
    """Another process holds the database; the message says which and what to do."""


def lock_path(database_path: str) -> Path:
    return Path(f"{os.path.realpath(database_path)}.lock")


_held: dict[Path, IO[str]] = {}  # the locks this process holds, by lock file


def hold(database_path: str) -> IO[str] | None:
    """Take the database's instance lock for the life of this process (keep the returned file
    open); None for an in-memory database. Taking it again in the same process (`serve`, then
    the app's startup) returns the lock already held."""
    if database_path == ":memory:":
        return None
    path = lock_path(database_path)
    if path in _held and not _held[path].closed:
        return _held[path]
    private_folder(path.parent)  # `serve` takes the lock before it opens the database
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read(20).strip()
        handle.close()
        pid = f" (pid {owner})" if owner.isdigit() else ""
        raise AlreadyRunning(
            f"another pipedrive-maileon process{pid} is running on {database_path}; "
            "stop it first (one process per database)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _held[path] = handle
    return handle


def release(database_path: str) -> None:
    """Let go of the instance lock (the app stopped; a test starts the next app)."""
    handle = _held.pop(lock_path(database_path), None) if database_path != ":memory:" else None
    if handle is not None:
        handle.close()
