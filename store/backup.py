"""Online backup and restore of the SQLite database (SQLite's backup API).

`backup` copies a consistent snapshot while the app keeps running (WAL: the copy reads one
snapshot, writers carry on); every transaction committed before it started is in the copy.
`restore` puts a backup in place of the database while no process holds it.

A copy holds names, addresses and encrypted secrets: it is written 0600 whatever the umask,
in a folder the app creates 0700, and never onto the database or one of its companion files.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from store import instance
from store.db import private_folder

# The files SQLite and the app keep beside the database: replacing one corrupts the live
# database (-wal, -journal), its shared memory (-shm) or lets a second instance start (.lock).
COMPANIONS = ("-wal", "-shm", "-journal", ".lock")


class BackupError(Exception):
    """The copy could not be made or checked; the message says why."""


def _copy(source: str, target: Path) -> None:
    """Copy `source` into a new file beside `target`, check it, then rename it into place, so
    `target` is never a half-written database."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # Created 0600 before SQLite opens it: SQLite keeps an existing file's mode, and gives
    # the copy's journal the same.
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
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
    refused = _database_files(database_path)
    # resolve(): through symbolic links, `..` and another spelling of the same folder
    if path.resolve() in refused:
        raise BackupError(
            "the backup must not overwrite the database or its companion files "
            f"({', '.join(p.name for p in sorted(refused))})"
        )
    private_folder(path.parent)
    _copy(database_path, path)
    return path


def _database_files(database_path: str) -> set[Path]:
    database = Path(database_path).resolve()
    return {database} | {database.with_name(database.name + s) for s in COMPANIONS}


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
        private_folder(database.parent)
        # A WAL left by the old database would be replayed onto the restored one.
        for suffix in ("-wal", "-shm"):
            Path(f"{database_path}{suffix}").unlink(missing_ok=True)
        _copy(backup_path, database)
    finally:
        if lock is not None:
            lock.close()
