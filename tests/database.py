"""A fresh, migrated database file for each test, copied from one template per test process.

Each test still gets its own file (nothing of one test reaches another); only the migrations
run once per process instead of once per test: applied to an empty file they cost ~75 ms of
CPU (sqlite-utils splits every script statement by statement in Python), about a fifth of an
integration test's CPU. The migrations themselves still run: for the template, and in every app
process the fault and deploy tests start on an empty file.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store


@cache
def _template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="migrated-db-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "template.db"
    store = Store(str(path), SecretBox(parse_keys(new_key())))
    store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


def fresh_database(path: str | Path) -> None:
    """Put a migrated, empty database at `path` (private to its owner, as the app makes it),
    unless a file is there already."""
    if Path(path).exists():
        return
    shutil.copyfile(_template(), path)
    os.chmod(path, 0o600)
