"""Online backup and restore of the SQLite database (SQLite's backup API).

`backup` copies a consistent snapshot while the app keeps running (WAL: the copy reads one
snapshot, writers carry on); every transaction committed before it started is in the copy.
`restore` puts a backup in place of the database while no process holds it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from store import instance


class BackupError(Exception):
    """The copy could not be made or checked; the message says why."""


def _copy(source: str, target: Path) -> None:
    """Copy `source` into a new file beside `target`, check it, then rename it into place, so
    `target` is never a half-written database."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from None
    finally:
        dst.close()
        src.close()
    os.replace(partial, target)


def backup(database_path: str, target: str) -> Path:
    """Write a consistent copy of the database to `target` (replaced if it exists)."""
    if not Path(database_path).is_file():
        raise BackupError(f"no database at {database_path} (check DATABASE_PATH)")
    path = Path(target)
    if path.resolve() == Path(database_path).resolve():
        raise BackupError("the backup must not overwrite the database itself")
    path.parent.mkdir(parents=True, exist_ok=True)
    _copy(database_path, path)
    return path


def restore(backup_path: str, database_path: str) -> None:
    """Replace the database with a backup. Refuses while the app runs on it: stop it first."""
    if not Path(backup_path).is_file():
        raise BackupError(f"no backup at {backup_path}")
    try:
        lock = instance.hold(database_path)
    except instance.AlreadyRunning as exc:
        raise BackupError(str(exc)) from None
    try:
        database = Path(database_path)
        database.parent.mkdir(parents=True, exist_ok=True)
        # A WAL left by the old database would be replayed onto the restored one.
        for suffix in ("-wal", "-shm"):
            Path(f"{database_path}{suffix}").unlink(missing_ok=True)
        _copy(backup_path, database)
    finally:
        if lock is not None:
            lock.close()
