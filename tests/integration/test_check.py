"""`pipedrive-maileon check` against the simulated Maileon: every probe OK on a healthy account,
and a clear DIFF line with a non-zero exit for what differs from what the app expects."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.maileon import MaileonSim
from sandbox.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
KEY = "demo-maileon-key-0001"


@pytest.fixture
def maileon() -> Iterator[str]:
    server = ServerThread(MaileonSim(time_scale=0.01).app).start()
    try:
        yield server.url
    finally:
        server.stop()


def run_check(
    url: str, key: str, tmp_path: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "MAILEON_API_URL": f"{url}/1.0",
        "MAILEON_API_KEY": key,
    }
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "check", *options],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """probe name → its line."""
    out = {}
    for line in result.stdout.splitlines():
        found = re.match(r"^(OK|DIFF|EMPTY)\s+([^:]+):", line)
        if found:
            assert found.group(2) not in out, f"two lines for {found.group(2)}"
            out[found.group(2).strip()] = line
    return out


READ_PROBES = {
    "ping",
    "custom field list",
    "contact lookup (unknown address)",
    "transaction type list",
    "webhook list",
}
WRITE_PROBES = {
    "create a contact",
    "create again (sync_mode=2)",
    "update without permission",
    "clear a field",
    "synchronize a valid and an invalid address",
    "address change onto an existing address",
    "custom field posted again",
    "transaction type posted again",
    "transaction for an existing contact",
    "transaction for a missing contact",
    "webhook list read back",
    "delete what the check made",
}


def test_a_healthy_account_passes_every_probe_without_writing(maileon: str, tmp_path: Path) -> None:
    result = run_check(maileon, KEY, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    assert set(found) == READ_PROBES
    # a fresh account has no fields, types or webhooks: an empty list passes no probe
    empty = {"custom field list", "transaction type list", "webhook list"}
    assert all(found[name].startswith("EMPTY") for name in empty)
    assert all(found[name].startswith("OK") for name in READ_PROBES - empty)
    assert "2 of 5 calls are as the app expects; 3 read an empty list" in result.stdout
    assert "run check --write before turning sync on" in result.stdout
    assert KEY not in result.stdout + result.stderr
    state = httpx.get(f"{maileon}/_sim/state", timeout=10).json()
    assert state["contacts"] == [] and state["custom_fields"] == []  # nothing written
    assert state["webhooks"] == [] and state["transaction_types"] == []


def test_an_unexpected_shape_is_reported_and_fails(maileon: str, tmp_path: Path) -> None:
    httpx.post(
        f"{maileon}/_sim/faults",
        timeout=10,
        json=[
            {
                "path_prefix": "/1.0/webhooks",
                "method": "GET",
                "status": 200,
                "body": '{"webhooks": []}',
            },
            {
                "path_prefix": "/1.0/contacts/fields/custom",
                "status": 200,
                "body": '{"custom_fields": []}',
            },
        ],
    )
    result = run_check(maileon, KEY, tmp_path)
    assert result.returncode == 1
    found = lines(result)
    assert found["webhook list"].startswith("DIFF")
    assert "expected a JSON array but got a JSON dict" in found["webhook list"]
    assert found["custom field list"].startswith("DIFF")
    assert "expected XML" in found["custom field list"]
    assert found["ping"].startswith("OK") and found["transaction type list"].startswith("EMPTY")
    assert "2 of 5 checks differ" in result.stdout


def test_a_refused_key_and_a_missing_privilege_are_named(maileon: str, tmp_path: Path) -> None:
    result = run_check(maileon, "no-such-key-000000", tmp_path)
    assert result.returncode == 1
    # one line that says so, and no probe lines nor "5 of 5 checks differ" after it
    assert result.stdout.splitlines() == [
        f"Maileon at {maileon}/1.0 refused the API key (Maileon rejected the credentials "
        "(401): invalid, expired or revoked API key); nothing was checked. Use a valid key "
        "(Maileon: Settings → API keys)."
    ], result.stdout
    httpx.post(
        f"{maileon}/_sim/keys",
        timeout=10,
        json={"key": "read-write-no-delete", "methods": ["GET", "POST", "PUT"]},
    )
    result = run_check(maileon, "read-write-no-delete", tmp_path)
    assert result.returncode == 1
    assert "lacks the privilege for DELETE" in lines(result)["ping"]


def test_a_contact_where_none_should_be_is_a_difference(maileon: str, tmp_path: Path) -> None:
    httpx.post(
        f"{maileon}/_sim/faults",
        timeout=10,
        json={
            "path_prefix": "/1.0/contacts/email/",
            "method": "GET",
            "status": 200,
            "content_type": "application/vnd.maileon.api+xml",
            "body": "<contact/>",
        },
    )
    result = run_check(maileon, KEY, tmp_path)
    assert result.returncode == 1
    assert lines(result)["contact lookup (unknown address)"].startswith("DIFF")


def state_of(maileon: str) -> dict[str, Any]:
    return httpx.get(f"{maileon}/_sim/state", timeout=10).json()  # type: ignore[no-any-return]


def test_check_write_on_the_sandbox_gives_one_ok_line_per_probe_and_leaves_nothing(
    maileon: str, tmp_path: Path
) -> None:
    result = run_check(maileon, KEY, tmp_path, "--write")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    assert set(found) == READ_PROBES | WRITE_PROBES
    assert all(line.startswith("OK") for line in found.values()), result.stdout
    assert "All calls are as the app expects." in result.stdout
    # where the reference is UNCONFIRMED, the line says which answer this account gives
    assert "answers 200 to an ignored create" in found["create again (sync_mode=2)"]
    assert "posted again this account answers 409" in found["custom field posted again"]
    assert "listed as <invalid_contact>" in found["synchronize a valid and an invalid address"]
    assert "URL parameters under urlParams" in found["webhook list read back"]
    assert "answers 409" in found["address change onto an existing address"]
    assert KEY not in result.stdout + result.stderr
    state = state_of(maileon)
    assert [c for c in state["contacts"] if c.get("email")] == []
    assert state["custom_fields"] == [] and state["webhooks"] == []
    assert state["transaction_types"] == []


def test_check_write_passes_no_probe_on_a_list_that_comes_back_empty(
    maileon: str, tmp_path: Path
) -> None:
    httpx.post(
        f"{maileon}/_sim/faults",
        timeout=10,
        json={"path_prefix": "/1.0/webhooks", "method": "GET", "status": 200, "body": "[]"},
    )
    result = run_check(maileon, KEY, tmp_path, "--write")
    assert result.returncode == 1
    line = lines(result)["webhook list read back"]
    assert line.startswith("DIFF") and "empty right after a webhook was created" in line
    assert lines(result)["delete what the check made"].startswith("OK")
    assert state_of(maileon)["webhooks"] == []  # deleted all the same
