"""Reading Pipedrive webhook bodies (v2 and v1): what the app takes from them, and the clear
refusal of a body it cannot use. Pure: no servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sync.webhook.parse import BadPayload, parse_pipedrive
from tests.webhooks import person_v1, person_v2

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "pipedrive"


def test_the_documented_v2_person_create() -> None:
    body = json.loads((EXAMPLES / "webhook_v2_person_create.migration-guide.json").read_text())
    event = parse_pipedrive(body)
    assert (event.version, event.entity, event.action, event.entity_id) == (
        2,
        "person",
        "create",
        "8",
    )
    assert event.company_id == 8087566 and event.user_id == 12415231
    assert event.dedupe_key == "pd2:5359a602-6d1b-4562-a385-ccaa762bd722"
    assert event.update_time.startswith("2022-11-24T13:18:55")
    assert event.current is not None and event.current["first_name"] == "Sample"


def test_a_v2_merge_names_the_surviving_person() -> None:
    body = person_v2(41, "delete", name="Gone Person", email="gone@example.com")
    body["meta"]["merged_to_id"] = "42"
    event = parse_pipedrive(body)
    assert event.action == "delete" and event.merged_to_id == 42


def test_v1_events_deduplicate_by_their_content() -> None:
    first = parse_pipedrive(person_v1(7, "updated", name="Ada Lovelace", email="ada@ex.com"))
    again = parse_pipedrive(person_v1(7, "updated", name="Ada Lovelace", email="ada@ex.com"))
    later = parse_pipedrive(
        person_v1(7, "updated", name="Ada Lovelace", email="ada@ex.com", seconds=5)
    )
    assert (first.version, first.action, first.entity_id) == (1, "change", "7")
    assert first.dedupe_key == again.dedupe_key != later.dedupe_key


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "expected a JSON object with a 'meta' object"),
        (
            {
                "meta": {
                    "version": "2.0",
                    "action": "create",
                    "entity": "person",
                    "entity_id": "1",
                    "company_id": "1",
                }
            },
            "meta.id is missing",
        ),
        ({"meta": {"version": "2.0", "action": "explode", "id": "x"}}, "unsupported action"),
        (
            {
                "meta": {
                    "version": "2.0",
                    "action": "change",
                    "entity": "person",
                    "id": "x",
                    "entity_id": "99999999999999999999",
                    "company_id": "1",
                }
            },
            "meta.entity_id must be a positive number",
        ),
        (
            {
                "meta": {
                    "version": "2.0",
                    "action": "change",
                    "entity": "person",
                    "id": "x",
                    "entity_id": "5",
                    "company_id": "1",
                },
                "data": "text",
            },
            "data must be an object or null",
        ),
        ({"meta": {"v": 3}}, "unknown webhook version"),
    ],
)
def test_unusable_bodies_are_refused_with_the_reason(body: Any, reason: str) -> None:
    with pytest.raises(BadPayload, match=reason):
        parse_pipedrive(body)
