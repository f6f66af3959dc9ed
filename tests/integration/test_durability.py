"""Stored events survive a restart; secrets never sit in the database file in plaintext."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sandbox.server import ServerThread
from tests.harness import MAILEON_KEY, Harness
from web.app import create_app


def test_database_file_holds_no_plaintext_secret(harness: Harness, tmp_path: Path) -> None:
    harness.setup_company()
    db_path = Path(harness.config.database_path)
    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT access_token, refresh_token FROM installations").fetchall()
    settings = conn.execute(
        "SELECT maileon_api_key, webhook_password, maileon_webhook_token FROM settings"
    ).fetchone()
    conn.close()
    secrets = [MAILEON_KEY, *settings[1:], *[v for row in rows for v in row]]
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("app.db*"))
    assert MAILEON_KEY.encode() not in raw
    assert all(s.startswith("enc1.") for s in secrets[1:])
    state = harness.pd("GET", "/_sim/state")
    hook = next(w for w in state["webhooks"])
    assert hook["http_auth_password"].encode() not in raw
    assert b"v1u:" not in raw  # Pipedrive access tokens start with v1u:


def test_jobs_left_by_a_stopped_app_are_applied_after_restart(harness: Harness) -> None:
    harness.setup_company()
    app_port = int(harness.app_url.rsplit(":", 1)[1])
    # Make Maileon unavailable so the stored jobs cannot be applied, then stop the app.
    harness.ml("POST", "/_sim/down", json={"down": True})
    for i in range(5):
        harness.create_person(name=f"Person {i}", email=f"p{i}@example.com")
    harness.pd("POST", "/_sim/idle?timeout=10")
    assert harness.queue_depth() == 5
    harness.app_server.stop()
    harness.ml("POST", "/_sim/down", json={"down": False})
    restarted = ServerThread(create_app(harness.config), port=app_port).start()
    try:
        harness.settle()
        assert sorted(harness.contacts()) == [f"p{i}@example.com" for i in range(5)]
    finally:
        restarted.stop()
