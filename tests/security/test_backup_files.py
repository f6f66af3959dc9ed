"""Issue #23, items 4 and 5: a backup holds names, addresses and encrypted secrets, so under
the usual umask 022 the copy, the restored database and any folder the app creates are private
to its owner; and `backup` never writes over the database's companion files, however the
target is spelled."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def cli(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args, "--database", str(database)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),  # the operator's usual umask
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def make_database(folder: Path) -> Path:
    database = folder / "live" / "app.db"
    store = Store(str(database), SecretBox(parse_keys(new_key())))
    store.execute("CREATE TABLE probe (x)")
    store.execute("INSERT INTO probe VALUES ('ada@example.com')")
    store.close()
    return database


def test_backups_the_restored_database_and_new_folders_are_private(
    tmp_path: Path, umask_022: None
) -> None:
    database = make_database(tmp_path)
    copy = tmp_path / "new-backups" / "nested" / "copy.db"
    r = cli(database, "backup", str(copy))
    assert r.returncode == 0, r.stderr
    assert mode(copy) == 0o600
    assert mode(copy.parent) == 0o700 and mode(copy.parent.parent) == 0o700

    restored = tmp_path / "fresh" / "data" / "app.db"
    r = cli(restored, "restore", str(copy))
    assert r.returncode == 0, r.stderr
    assert mode(restored) == 0o600
    assert mode(restored.parent) == 0o700 and mode(restored.parent.parent) == 0o700
    assert mode(Path(f"{restored}.lock")) == 0o600


def test_the_instance_lock_creates_its_folder_private(tmp_path: Path, umask_022: None) -> None:
    """`serve` takes the instance lock before it opens the database: the folder it creates
    then is already 0700."""
    from store import instance

    database = tmp_path / "data" / "app.db"
    lock = instance.hold(str(database))
    try:
        assert mode(database.parent) == 0o700
        assert mode(instance.lock_path(str(database))) == 0o600
    finally:
        assert lock is not None
        lock.close()


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal", ".lock", ""])
def test_backup_refuses_the_database_and_its_companion_files(tmp_path: Path, suffix: str) -> None:
    database = make_database(tmp_path)
    lock = Path(f"{database}.lock")
    lock.write_text("4242")  # a running instance's lock
    # another spelling of the same path: through `..` and through a symbolic link
    alias = tmp_path / "alias"
    alias.symlink_to(database.parent)
    for target in (
        f"{database}{suffix}",
        f"{database.parent}/../live/{database.name}{suffix}",
        f"{alias}/{database.name}{suffix}",
    ):
        r = cli(database, "backup", target)
        assert r.returncode == 1, (target, r.stdout)
        assert "companion" in r.stderr
    assert lock.read_text() == "4242"
    conn = sqlite3.connect(database)
    assert conn.execute("SELECT x FROM probe").fetchall() == [("ada@example.com",)]
    conn.close()
