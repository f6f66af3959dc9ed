"""The platform files: app.json describes every documented variable and generates only values
the app accepts; the Procfile releases (migrations, configuration check) before it serves."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

from appconfig import from_env
from tests.deploy.procfile import procfile

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_SET = {"PORT"}  # the platform sets it; app.json cannot


def documented_variables() -> set[str]:
    """The variables in the README's configuration table."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))


def test_app_json_describes_every_documented_variable() -> None:
    env = json.loads((ROOT / "app.json").read_text())["env"]
    assert documented_variables() - PLATFORM_SET <= set(env)
    for name, spec in env.items():
        assert spec.get("description"), name


def test_generated_secrets_are_values_the_app_accepts() -> None:
    env = json.loads((ROOT / "app.json").read_text())["env"]
    generated = {name for name, spec in env.items() if spec.get("generator") == "secret"}
    assert generated == {"SECRET_KEY", "ENCRYPTION_KEY"}
    # Heroku's `secret` generator makes 64 hex characters.
    values = {name: secrets.token_hex(32) for name in generated}
    config = from_env(
        {
            "PIPEDRIVE_CLIENT_ID": "id",
            "PIPEDRIVE_CLIENT_SECRET": "secret",
            "APP_URL": "https://maileon-sync.example.com",
            **values,
        }
    )
    assert config.secret_key == values["SECRET_KEY"] and len(config.encryption_keys) == 1


def test_procfile_releases_before_it_serves() -> None:
    assert procfile(ROOT / "Procfile") == {
        "release": "pipedrive-maileon migrate",
        "web": "pipedrive-maileon serve",
    }
