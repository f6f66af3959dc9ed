"""A fresh store per test, with one installed company (id 1) that jobs and events can use."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import tenants
from store.crypto import SecretBox, new_key, parse_keys
from store.db import Store
from tests.database import fresh_database


def add_company(store: Store, company_id: int, name: str = "A") -> None:
    """An installed company the store's jobs and events can belong to."""
    tenants.save_installation(
        store,
        company_id=company_id,
        company_name=name,
        domain=name.lower(),
        api_domain="x",
        user_id=1,
        user_name="u",
        is_admin=True,
        access_token="a",
        refresh_token="r",
        expires_in=3600,
        scope="",
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    fresh_database(tmp_path / "app.db")
    s = Store(str(tmp_path / "app.db"), SecretBox(parse_keys(new_key())))
    add_company(s, 1)
    return s
