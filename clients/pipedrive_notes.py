"""Pipedrive notes (API v1 `/notes`: there is no v2; scope `contacts:full`, 10 tokens)."""

from __future__ import annotations

from datetime import UTC, datetime

from clients.pipedrive import PipedriveClient


async def add_person_note(
    client: PipedriveClient, person_id: int, content: str, at: float | None = None
) -> int | None:
    """A note on the person; `at` (epoch seconds) back-dates it to the event (UTC)."""
    body: dict[str, object] = {"content": content, "person_id": person_id}
    if at is not None:
        body["add_time"] = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    answer = await client.request("POST", "/api/v1/notes", json=body)
    data = answer.get("data")
    note_id = data.get("id") if isinstance(data, dict) else None
    return note_id if isinstance(note_id, int) else None
