"""Issue #23, item 3: one company's retained history must not stall every request. The sync
health card (polled every 10 s) and the settings page read only what they show, through
indexes: the work their queries do (SQLite virtual-machine steps, counted by a progress
handler on the app's own connection) stays the same whether the company keeps a little or a
lot of history."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from store import synclog
from store.db import Store
from tests.harness import COMPANY, Harness


def app_store(harness: Harness) -> Store:
    app: Any = harness.app_server.server.config.app
    store: Store = app.state.ctx.store
    return store


@contextmanager
def counted_steps(store: Store) -> Iterator[Callable[[], int]]:
    """Count the virtual-machine steps of every statement on the app's connection."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0  # go on

    with store.lock:
        store.db.conn.set_progress_handler(tick, 1)
    try:
        yield lambda: steps[0]
    finally:
        with store.lock:
            store.db.conn.set_progress_handler(None, 1)


def add_history(store: Store, rounds: int) -> None:
    """What a busy company leaves behind over RETENTION_DAYS: finished jobs with large bodies
    for the persons and deals the card names, their log lines, routine runs with nothing to
    do, and a person that needed attention again and again."""
    person = {"action": "change", "data": {"id": 77, "name": "Ada Lovelace", "notes": "x" * 20_000}}
    deal = {"action": "change", "data": {"id": 12, "title": "Big deal", "notes": "y" * 20_000}}
    t = time.time() - 3600
    with store.tx() as db:
        for _ in range(rounds):
            for kind, entity, payload in (("person", "77", person), ("deal", "12:change", deal)):
                job = db.execute(
                    "INSERT INTO jobs (company_id, kind, entity_id, payload, state, run_after, "
                    "created_at, updated_at) VALUES (?,?,?,?,'done',?,?,?)",
                    (COMPANY, kind, entity, json.dumps(payload), t, t, t),
                ).lastrowid
                line = (COMPANY, kind, entity, "ok", "updated in Maileon", job)
                # as store.queue logs a finished job: with the name its data carried
                synclog.write(db, *line, synclog.subject_of(payload))
            synclog.write(db, COMPANY, "periodic.sweep", "company", "skipped", "sync is off")
            synclog.write(
                db, COMPANY, "person", "78", "attention", "Bo (#78): the address is not valid"
            )


def page_steps(harness: Harness, client: httpx.Client, path: str) -> int:
    store = app_store(harness)
    with counted_steps(store) as steps:
        r = client.get(f"{harness.app_url}{path}")
        assert r.status_code == 200, r.text
        return steps()


def test_the_health_card_and_settings_page_do_not_grow_with_history(harness: Harness) -> None:
    client = harness.setup_company()
    harness.settle()
    store = app_store(harness)
    paths = ("/settings/health", "/settings/health?log=failed", "/settings")
    add_history(store, 20)
    page_steps(harness, client, "/settings")  # warm the caches (fields, webhooks)
    small = {p: page_steps(harness, client, p) for p in paths}
    add_history(store, 400)  # twenty times the history
    large = {p: page_steps(harness, client, p) for p in paths}
    for path in paths:
        assert large[path] < small[path] * 1.2 + 500, (path, small[path], large[path])
    card = client.get(f"{harness.app_url}/settings/health").text
    assert "Ada Lovelace" in card and "Big deal" in card  # the names still show
    assert "1 person needs" in card
