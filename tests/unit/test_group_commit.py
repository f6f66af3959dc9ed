"""Group commit: concurrent webhooks share a transaction, each learns its own outcome."""

from __future__ import annotations

import asyncio
import json

from store.db import Store
from store.group_commit import GroupCommit
from store.queue import IncomingEvent


def event(key: str, person: str, company_id: int = 1) -> IncomingEvent:
    payload = json.dumps({"action": "change", "key": key})
    return IncomingEvent(
        company_id,
        "pipedrive",
        f"pd2:{key}",
        "person.change",
        person,
        payload,
        "person",
        payload,
        "2026-01-01T00:00:00Z",
        "change",
    )


def test_one_turn_is_one_transaction_and_a_repeat_inside_it_is_a_duplicate(store: Store) -> None:
    async def deliver() -> list[bool]:
        commit = GroupCommit(store)
        return list(
            await asyncio.gather(
                *(
                    commit.record(e)
                    for e in (event("a", "7"), event("b", "8"), event("a", "7"), event("c", "7"))
                )
            )
        )

    assert asyncio.run(deliver()) == [True, True, False, True]
    assert store.scalar("SELECT count(*) FROM events") == 3
    jobs = store.all("SELECT entity_id, payload FROM jobs ORDER BY entity_id")
    assert [(j["entity_id"], json.loads(j["payload"])["key"]) for j in jobs] == [
        ("7", "c"),
        ("8", "b"),
    ]


def test_an_event_that_cannot_be_stored_fails_only_its_own_request(store: Store) -> None:
    async def deliver() -> list[object]:
        commit = GroupCommit(store)
        return list(
            await asyncio.gather(
                commit.record(event("a", "7")),
                commit.record(event("b", "8", company_id=999)),
                commit.record(event("c", "9")),
                return_exceptions=True,
            )
        )

    outcomes = asyncio.run(deliver())  # company 999 does not exist: a foreign key error
    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], Exception)
    assert [r["dedupe_key"] for r in store.all("SELECT dedupe_key FROM events ORDER BY id")] == [
        "pd2:a",
        "pd2:c",
    ]
