"""OAuth states are stateless (signed, browser-bound); only a *used* state's nonce is stored,
until it expires, so each state signs in once. Issuing a state writes nothing, so
unauthenticated `GET /oauth/install` requests cannot grow the database."""

from __future__ import annotations

from store.db import Store, now


def use_once(store: Store, nonce: str, expires_at: float) -> bool:
    """True the first time a nonce is used; False for a replay."""
    with store.tx() as db:
        db.execute("DELETE FROM oauth_states WHERE expires_at < ?", (now(),))
        return bool(
            db.execute(
                "INSERT OR IGNORE INTO oauth_states (nonce, expires_at) VALUES (?, ?)",
                (nonce, expires_at),
            ).rowcount
            == 1
        )


def count(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM oauth_states") or 0)
