"""Secrets at rest and configuration checks, on their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appconfig import ConfigError, from_env
from store.crypto import DecryptError, SecretBox, new_key, parse_keys

ROOT = Path(__file__).resolve().parents[2]
VALID = {
    "PIPEDRIVE_CLIENT_ID": "id",
    "PIPEDRIVE_CLIENT_SECRET": "secret",
    "APP_URL": "https://app.example.com",
    "SECRET_KEY": "k" * 40,
    "ENCRYPTION_KEY": "ab" * 32,
}


def test_a_secret_is_bound_to_its_row_and_column() -> None:
    box = SecretBox(parse_keys(new_key()))
    token = box.encrypt("v1u:secret-token", "installations.access:1:2")
    assert "secret-token" not in token
    assert box.decrypt(token, "installations.access:1:2") == "v1u:secret-token"
    with pytest.raises(DecryptError):
        box.decrypt(token, "installations.access:1:3")  # copied into another row


def test_keys_rotate_newest_first() -> None:
    old, new = new_key(), new_key()
    token = SecretBox(parse_keys(old)).encrypt("maileon-key", "settings.key:1")
    rotated = SecretBox(parse_keys(f"{new},{old}"))
    assert rotated.decrypt(token, "settings.key:1") == "maileon-key"
    assert rotated.needs_rotation(token)
    assert not rotated.needs_rotation(rotated.encrypt("x", "c"))
    with pytest.raises(DecryptError):
        SecretBox(parse_keys(new)).decrypt(token, "settings.key:1")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PIPEDRIVE_CLIENT_ID", "", "PIPEDRIVE_CLIENT_ID is required"),
        ("APP_URL", "not a url", "APP_URL must be an http(s) URL"),
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 32 characters"),
        ("ENCRYPTION_KEY", "zz", "ENCRYPTION_KEY is malformed"),
        ("PORT", "eighty", "PORT must be a number"),
        ("MAILEON_API_URL", "ftp://x", "MAILEON_API_URL must be an http(s) URL"),
    ],
)
def test_a_bad_value_is_named(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        from_env({**VALID, name: value})


def test_defaults_apply() -> None:
    config = from_env(VALID)
    assert config.oauth_url == "https://oauth.pipedrive.com"
    assert config.maileon_api_url == "https://api.maileon.com/1.0"
    assert config.database_path == "data/app.db"
    assert config.panel_jwt_secret == "secret"


def test_every_missing_or_malformed_variable_is_named_at_once(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "APP_URL": "not a url",
        "SECRET_KEY": "short",
        "ENCRYPTION_KEY": "ab" * 32,
        "PORT": "eighty",
    }
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "serve"],
        cwd=tmp_path,  # no .env there
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for problem in (
        "PIPEDRIVE_CLIENT_ID is required but not set",
        "PIPEDRIVE_CLIENT_SECRET is required but not set",
        "APP_URL must be an http(s) URL",
        "SECRET_KEY must be at least 32 characters",
        "PORT must be a number",
    ):
        assert problem in lines[0]
