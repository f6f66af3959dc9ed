"""Issue #13, items 8 and 9: a wrong ENCRYPTION_KEY is noticed (serve refuses to start in one
line naming it; /healthz fails when the secrets cannot be read), the database is readable by
its owner only, and the server's timeouts are bounded."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from store import keycheck
from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store
from tests.harness import Harness
from web import cli

ROOT = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, database: Path, key: str) -> subprocess.CompletedProcess[str]:
    """`serve` on a port that is taken: a server that got past its checks exits at once."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "PIPEDRIVE_CLIENT_ID": "id",
        "PIPEDRIVE_CLIENT_SECRET": "secret",
        "APP_URL": "https://app.example.com",
        "SECRET_KEY": "s" * 40,
        "ENCRYPTION_KEY": key,
        "DATABASE_PATH": str(database),
        "PORT": str(taken.getsockname()[1]),
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        taken.close()


def test_serve_refuses_a_key_that_cannot_read_the_database(
    harness: Harness, tmp_path: Path
) -> None:
    harness.setup_company()  # a database with encrypted tokens and keys, and its key check
    # A copy: the running app holds its own database's instance lock (issue 27).
    database = tmp_path / "copy.db"
    with sqlite3.connect(harness.config.database_path) as live, sqlite3.connect(database) as copy:
        live.backup(copy)
    result = serve(tmp_path, database, new_key())
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "ENCRYPTION_KEY" in lines[0], lines


def test_a_rotated_key_list_with_the_old_key_still_reads(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    first = Store(str(tmp_path / "app.db"), SecretBox(parse_keys(old)))
    keycheck.ensure(first)  # the first start writes the check
    first.close()
    for keys, ok in ((f"{new},{old}", True), (new, False)):
        store = Store(str(tmp_path / "app.db"), SecretBox(parse_keys(keys)))
        try:
            try:
                keycheck.ensure(store)
                assert ok
            except keycheck.KeyCheckFailed:
                assert not ok
        finally:
            store.close()


def test_healthz_fails_when_the_secrets_cannot_be_read(harness: Harness) -> None:
    harness.setup_company()
    assert httpx.get(f"{harness.app_url}/healthz", timeout=10).json()["secrets"] == "ok"
    foreign = SecretBox(parse_keys(new_key())).encrypt(
        "pipedrive-maileon key check", "key_check.value:1"
    )
    conn = sqlite3.connect(harness.config.database_path)
    with conn:  # a database restored from another deployment, under the running app
        conn.execute("UPDATE key_check SET value=?", (foreign,))
    conn.close()
    r = httpx.get(f"{harness.app_url}/healthz", timeout=10)
    assert r.status_code == 503
    assert r.json()["secrets"] == "unreadable" and r.json()["status"] == "degraded"


def test_the_database_and_its_new_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "app.db"
    store = Store(str(path), SecretBox(parse_keys(new_key())))
    try:
        store.execute("CREATE TABLE probe (x)")  # WAL and shared-memory files exist now
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        store.close()


def test_the_server_timeouts_are_bounded() -> None:
    limits = cli.SERVER_LIMITS
    assert 0 < limits["timeout_keep_alive"] <= 15
    assert 0 < limits["timeout_graceful_shutdown"] <= 60
    assert limits["h11_max_incomplete_event_size"] <= 64 * 1024
