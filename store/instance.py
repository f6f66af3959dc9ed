"""One process per database: an exclusive lock on `<database>.lock`, held while the app runs.

The queue's leases assume one owner (`queue.release_leases` at startup hands back every
lease), so a second `serve` on the same file must refuse to start instead of sharing leases.
An OS lock (flock) dies with its process, so a process restarted after kill -9 starts at once.
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
    return Path(f"{database_path}.lock")


def hold(database_path: str) -> IO[str] | None:
    """Take the database's instance lock for the life of this process (keep the returned file
    open); None for an in-memory database."""
    if database_path == ":memory:":
        return None
    path = lock_path(database_path)
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
    return handle
