"""Shared HTTP plumbing: one httpx client per process, and response classification."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable

import httpx

from clients.digits import ascii_int
from clients.errors import (
    ApiError,
    Forbidden,
    NotFound,
    PermanentError,
    TransientError,
    Unauthorized,
)


def new_http_client(answer_within: float = 20.0) -> httpx.AsyncClient:
    """`answer_within`: seconds a call waits for the answer (Config.http_timeout)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(answer_within, connect=5.0),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After (seconds or HTTP date), else Pipedrive's x-ratelimit-reset (seconds left)."""
    raw = response.headers.get("retry-after")
    if raw:
        seconds = ascii_int(raw, 9)
        if seconds is not None:
            return float(seconds)
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):  # neither seconds nor an HTTP date
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return max(0.0, parsed.timestamp() - time.time())
    reset = ascii_int(response.headers.get("x-ratelimit-reset", ""), 9)
    return float(reset) if reset is not None else None


def classify(response: httpx.Response, service: str, detail: str = "") -> ApiError:
    """Turn a non-2xx response into the right error; `detail` is the API's own message."""
    status = response.status_code
    suffix = f": {detail}" if detail else ""
    if status == 429:
        return TransientError(
            f"{service} rate limit reached (429)", status, retry_after_seconds(response), service
        )
    if status >= 500:
        return TransientError(
            f"{service} is unavailable ({status}){suffix}",
            status,
            retry_after_seconds(response),
            service,
        )
    if status == 401:
        return Unauthorized(f"{service} rejected the credentials (401){suffix}", status, service)
    if status == 403:
        return Forbidden(f"{service} denied the request (403){suffix}", status, service)
    if status == 404:
        return NotFound(f"{service}: not found (404){suffix}", status, service)
    return PermanentError(f"{service} refused the request ({status}){suffix}", status, service)


async def send(service: str, call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """Run one request, mapping network failures to TransientError."""
    try:
        return await call()
    except httpx.TimeoutException:
        raise TransientError(f"{service} did not answer in time", service=service) from None
    except httpx.TransportError:
        raise TransientError(f"{service} is unreachable", service=service) from None
