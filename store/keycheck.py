"""A known value encrypted at first start: proof that the configured ENCRYPTION_KEY can read
the database's secrets. The app refuses to start when no configured key can read it, and
/healthz fails when it cannot be read any more. The check stays encrypted with the key of
its first start (secrets are not re-encrypted on rotation), so that key must stay configured.
"""

from __future__ import annotations

from store import tenants
from store.crypto import DecryptError
from store.db import Store, now

CONTEXT = "key_check.value:1"
KNOWN = "pipedrive-maileon key check"


class KeyCheckFailed(Exception):
    """No configured key reads this database's secrets."""


def ensure(store: Store) -> None:
    """Verify the key check, or write it at first start. On a database from before the check
    existed, a stored secret must decrypt first, so a wrong key is never enshrined."""
    if store.scalar("SELECT value FROM key_check WHERE id=1") is None:
        if tenants.sample_secret_readable(store) is False:
            raise KeyCheckFailed
        store.execute(
            "INSERT OR IGNORE INTO key_check (id, value, created_at) VALUES (1,?,?)",
            (store.box.encrypt(KNOWN, CONTEXT), now()),
        )
    if not readable(store):
        raise KeyCheckFailed


def readable(store: Store) -> bool:
    value = store.scalar("SELECT value FROM key_check WHERE id=1")
    if value is None:
        return False
    try:
        return store.box.decrypt(value, CONTEXT) == KNOWN
    except DecryptError:
        return False
