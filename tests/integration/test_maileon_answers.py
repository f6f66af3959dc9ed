"""Where the reference leaves Maileon's answer UNCONFIRMED, the app's client takes every answer
the sources allow: 409 or 400 for a custom field or transaction type that exists already (a
400 only when the thing really exists). Against the simulated Maileon over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from clients.errors import ApiError
from clients.maileon import MaileonClient
from sandbox.maileon import MaileonSim
from sandbox.server import ServerThread

KEY = "demo-maileon-key-0001"


@pytest.fixture
def maileon() -> Iterator[str]:
    server = ServerThread(MaileonSim(time_scale=0.01).app).start()
    try:
        yield server.url
    finally:
        server.stop()


def fault_400(url: str, path: str) -> None:
    r = httpx.post(
        f"{url}/_sim/faults",
        timeout=10,
        json={
            "path_prefix": path,
            "method": "POST",
            "status": 400,
            "content_type": "application/vnd.maileon.api+xml",
            "body": "<error><message>already exists</message></error>",
        },
    )
    assert r.status_code == 200


def test_an_existing_custom_field_or_type_answered_400_is_taken(maileon: str) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            client = MaileonClient(http, f"{maileon}/1.0", KEY)
            assert await client.create_custom_field("Segment", "string") == 201
            fault_400(maileon, "/1.0/contacts/fields/custom/Segment")
            assert await client.create_custom_field("Segment", "string") == 400
            fault_400(maileon, "/1.0/contacts/fields/custom/Other")
            with pytest.raises(ApiError):  # a 400 for a field that is not there is an error
                await client.create_custom_field("Other", "string")

            attrs = [("deal_id", "integer", False)]
            assert await client.create_transaction_type("pipedrive_x", "x", attrs) == 201
            assert await client.create_transaction_type("pipedrive_x", "x", attrs) == 409
            fault_400(maileon, "/1.0/transactions/types")
            assert await client.create_transaction_type("pipedrive_x", "x", attrs) == 400
            fault_400(maileon, "/1.0/transactions/types")
            with pytest.raises(ApiError):
                await client.create_transaction_type("pipedrive_y", "y", attrs)

    asyncio.run(run())
