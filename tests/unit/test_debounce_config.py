"""SYNC_DEBOUNCE_SECONDS / SYNC_DEBOUNCE_MAX_SECONDS from the environment."""

from __future__ import annotations

import pytest

from appconfig import ConfigError, from_env
from tests.unit.test_crypto_and_config import VALID


def test_debounce_defaults_and_overrides() -> None:
    config = from_env(VALID)
    assert (config.debounce_seconds, config.debounce_max_seconds) == (1.0, 10.0)
    config = from_env({**VALID, "SYNC_DEBOUNCE_SECONDS": "0.5", "SYNC_DEBOUNCE_MAX_SECONDS": "4"})
    assert (config.debounce_seconds, config.debounce_max_seconds) == (0.5, 4.0)
    assert from_env({**VALID, "SYNC_DEBOUNCE_SECONDS": "30"}).debounce_max_seconds == 30.0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SYNC_DEBOUNCE_SECONDS": "soon"}, "SYNC_DEBOUNCE_SECONDS must be a number"),
        (
            {"SYNC_DEBOUNCE_SECONDS": "2", "SYNC_DEBOUNCE_MAX_SECONDS": "1"},
            "SYNC_DEBOUNCE_MAX_SECONDS must not be less than SYNC_DEBOUNCE_SECONDS",
        ),
    ],
)
def test_a_bad_debounce_is_named(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        from_env({**VALID, **env})
