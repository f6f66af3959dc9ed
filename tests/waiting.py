"""How tests wait: on an observable condition, polled; or, where the clock itself is what a
test is about (an expiry, a window of time), for the clock. Nothing else in tests/ waits on time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy, and return that. Keep `interval`
    at or above the default where the predicate asks a simulator for its whole state."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout}s")
        time.sleep(interval)


def let_time_pass(seconds: float) -> None:
    """Let the clock move on, where its moving is the subject of the test (a token or code
    that expires, a window in which attempts are counted), never to wait for work."""
    time.sleep(seconds)


async def next_turn() -> None:
    """Let every task that is ready run once (one turn of the event loop)."""
    await asyncio.sleep(0)


def answers_health(base_url: str) -> bool:
    """Whether an app answers /healthz with 200 (False while it is not listening yet)."""
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
