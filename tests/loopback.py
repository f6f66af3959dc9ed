"""HTTP clients for the tests, all on one SSL context.

Every new httpx client loads the CA bundle into a fresh SSL context: ~30 ms of CPU, more than
most requests of a test cost. Nothing here speaks TLS (all servers are on loopback), so the
tests' clients share one context; otherwise these are httpx's own functions.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

SSL = ssl.create_default_context()


def client(**kw: Any) -> httpx.Client:
    return httpx.Client(verify=SSL, **kw)


def request(method: str, url: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, url, verify=SSL, **kw)


def get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, verify=SSL, **kw)


def post(url: str, **kw: Any) -> httpx.Response:
    return httpx.post(url, verify=SSL, **kw)


def put(url: str, **kw: Any) -> httpx.Response:
    return httpx.put(url, verify=SSL, **kw)


def patch(url: str, **kw: Any) -> httpx.Response:
    return httpx.patch(url, verify=SSL, **kw)


def delete(url: str, **kw: Any) -> httpx.Response:
    return httpx.delete(url, verify=SSL, **kw)


def healthy(base_url: str) -> bool:
    """Whether an app answers /healthz with 200 (False while it is not listening yet)."""
    try:
        return get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
