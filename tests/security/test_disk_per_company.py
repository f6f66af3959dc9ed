"""Issue #23, item 7: one company with valid webhook credentials must not fill the disk. The
raw body is not stored, a job keeps only the fields the sync uses and drops them once applied,
and beyond a bound of waiting changes the company's webhooks are answered 503 with
Retry-After (Pipedrive tries again later), which the sync health card shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import running_harness
from tests.harness import Harness
from tests.webhooks import credentials, deliver, person_v2

UNUSED = {"notes": "n" * 400_000, "im": ["x" * 1000] * 300}  # fields the sync never reads


def big_person(person_id: int, name: str, email: str) -> dict[str, object]:
    payload = person_v2(person_id, "change", name=name, email=email)
    payload["data"].update(UNUSED)
    return payload


def test_a_large_body_costs_only_the_fields_the_sync_uses(harness: Harness) -> None:
    client = harness.setup_company()
    harness.settle()
    r = deliver(harness, big_person(4242, "Ada Lovelace", "ada@example.com"))
    assert r.status_code == 200 and len(r.request.content) > 700_000
    # the event keeps its dedupe key only; the job what the sync reads
    assert harness.rows("SELECT length(payload) FROM events WHERE entity_id='4242'") == [(0,)]
    harness.settle()
    assert "ada@example.com" in harness.contacts()  # the sync had what it needed
    (size,) = harness.rows("SELECT max(length(payload)) FROM jobs WHERE entity_id='4242'")[0]
    assert size < 200  # applied: the data is gone, the action stays
    card = client.get(f"{harness.app_url}/settings/health").text
    assert "Ada Lovelace" in card  # the log line kept the name
    (total,) = harness.rows("SELECT sum(length(payload)) FROM jobs WHERE company_id=1001")[0]
    assert total < 50_000


@pytest.fixture
def slow_company(tmp_path: Path) -> Iterator[Harness]:
    """Changes wait a minute before they sync (debounce), and a company may queue 300 KB."""
    with running_harness(
        tmp_path,
        debounce_seconds=60.0,
        debounce_max_seconds=120.0,
        queue_limit_bytes=300_000,
    ) as h:
        yield h


def test_beyond_its_bound_a_company_is_asked_to_retry_later(slow_company: Harness) -> None:
    harness = slow_company
    client = harness.setup_company()
    custom = {"0123456789abcdef0123456789abcdef01234567": "c" * 60_000}  # a field it may map
    auth = credentials(harness)
    answers: list[httpx.Response] = []

    def send(i: int) -> httpx.Response:
        payload = person_v2(
            10_000 + i, "change", name=f"P{i}", email=f"p{i}@example.com", custom=custom
        )
        answers.append(deliver(harness, payload, auth))
        return answers[-1]

    for i in range(40):
        if send(i).status_code != 200:
            break
    refused = answers[-1]
    assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
    assert all(a.status_code in (200, 503) for a in answers)
    accepted = sum(a.status_code == 200 for a in answers)
    assert accepted <= 300_000 // 60_000 + 1  # each job holds its 60 KB custom field
    queued = harness.rows("SELECT count(*) FROM jobs WHERE kind='person' AND state='pending'")
    assert queued == [(accepted,)]
    # refused for as long as it stays full: nothing more is stored
    for _ in range(5):
        assert send(len(answers)).status_code == 503
    assert harness.rows("SELECT count(*) FROM jobs WHERE kind='person' AND state='pending'") == [
        (accepted,)
    ]
    card = client.get(f"{harness.app_url}/settings/health").text
    assert "Too many changes waiting" in card and "turned away" in card
