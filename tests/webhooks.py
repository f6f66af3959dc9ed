"""Build Pipedrive webhook payloads (v2 and v1, as documented) and deliver them to the app with
the company's real Basic credentials, the way Pipedrive would."""

from __future__ import annotations

import base64
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.harness import COMPANY, Harness

BASE_TIME = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def credentials(harness: Harness, company_id: int = COMPANY) -> str:
    """The Basic credentials the app registered with the company's webhooks in Pipedrive."""
    hook = next(
        w for w in harness.pd("GET", "/_sim/state")["webhooks"] if w["company_id"] == company_id
    )
    raw = f"{hook['http_auth_user']}:{hook['http_auth_password']}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def person_v2(
    person_id: int,
    action: str,
    *,
    name: str = "",
    email: str = "",
    seconds: float = 0,
    custom: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    first, _, last = name.partition(" ")
    data = (
        None
        if action == "delete"
        else {
            "id": person_id,
            "name": name,
            "first_name": first,
            "last_name": last or None,
            "emails": [{"value": email, "primary": True, "label": "work"}] if email else [],
            "phones": [],
            "org_id": None,
            "owner_id": 501,
            "visible_to": "3",
            "add_time": stamp(0),
            "update_time": stamp(seconds),
            "custom_fields": custom or {},
            "label": None,
        }
    )
    return {
        "data": data,
        "previous": previous,
        "meta": {
            "action": action,
            "entity": "person",
            "company_id": str(COMPANY),
            "entity_id": str(person_id),
            "id": str(uuid.uuid4()),
            "timestamp": stamp(seconds),
            "type": "application",
            "user_id": "501",
            "version": "2.0",
            "webhook_id": "1",
            "attempt": 1,
            "change_source": "app",
            **(meta or {}),
        },
    }


def person_v1(
    person_id: int,
    action: str,
    *,
    name: str = "",
    email: str = "",
    seconds: float = 0,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    first, _, last = name.partition(" ")
    current = (
        None
        if action == "deleted"
        else {
            "id": person_id,
            "name": name,
            "first_name": first,
            "last_name": last,
            "email": [{"value": email, "primary": True, "label": "work"}] if email else [],
            "org_id": None,
            "update_time": stamp(seconds).replace("T", " ").rstrip("Z"),
        }
    )
    micro = int((BASE_TIME + timedelta(seconds=seconds)).timestamp() * 1_000_000)
    return {
        "v": 1,
        "matches_filters": {"current": [], "previous": []},
        "meta": {
            "v": 1,
            "action": action,
            "object": "person",
            "id": person_id,
            "company_id": COMPANY,
            "user_id": 501,
            "timestamp": micro // 1_000_000,
            "timestamp_micro": micro,
            "webhook_id": "7",
            "change_source": "app",
        },
        "retry": 0,
        "current": current,
        "previous": previous,
        "event": f"{action}.person",
    }


def burst(first_id: int, persons: int, changes: int, name: str, email: str) -> list[dict[str, Any]]:
    """Each person's create, then `changes - 1` changes with a newer update_time: versions named
    f"{name}{p} Version{c}" for the addresses f"{email}{p}@example.com"."""
    return [
        person_v2(
            first_id + p,
            "create" if c == 0 else "change",
            name=f"{name}{p} Version{c}",
            email=f"{email}{p}@example.com",
            seconds=c,
        )
        for p in range(persons)
        for c in range(changes)
    ]


def deliver(
    harness: Harness, payload: Any, auth: str | None = None, client: httpx.Client | None = None
) -> httpx.Response:
    send = client or httpx
    headers = {"Authorization": auth or credentials(harness)}
    return send.post(
        f"{harness.app_url}/webhooks/pipedrive", json=payload, headers=headers, timeout=20
    )


def deliver_all(harness: Harness, payloads: list[Any], auth: str) -> list[httpx.Response]:
    """Deliver a burst over 8 connections at once, as Pipedrive does under load."""
    with httpx.Client(timeout=20) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda p: deliver(harness, p, auth, client), payloads))
