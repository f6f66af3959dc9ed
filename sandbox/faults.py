"""Fault injection shared by both simulators: latency, scripted error answers, outages, and
late answers (`late_ms`: the request is carried out at once, its answer sent that much later,
as a service does that applies a change but answers after the client's timeout).

Tests and the demo drive it over HTTP (`/_sim/faults`, `/_sim/latency`, `/_sim/down`), so the
app under test meets the faults through its real HTTP clients.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class ScriptedFault:
    path_prefix: str
    status: int
    count: int
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    content_type: str = "application/json"
    late_ms: float = 0.0  # > 0: answered by the simulator itself, that much later
    exact: bool = False  # the path must be `path_prefix` itself


@dataclass
class Hold:
    """Requests to exactly `path` (and `method`) wait until released: a test holds a call
    in flight, does something meanwhile, then lets it answer (events, not sleeps)."""

    path: str
    method: str | None = None
    count: int = 1  # how many requests it catches
    waiting: int = 0  # requests held now
    released: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Faults:
    latency_ms: float = 0.0
    down: bool = False
    scripted: list[ScriptedFault] = field(default_factory=list)
    answered: int = 0  # requests answered by a fault (outage or scripted), for call counting
    in_flight: int = 0  # API requests being answered now
    most_in_flight: int = 0  # the most at once since the last clear (how hard a client pushes)
    holds: list[Hold] = field(default_factory=list)

    def add(self, spec: dict[str, Any]) -> None:
        headers = {str(k).lower(): str(v) for k, v in (spec.get("headers") or {}).items()}
        if spec.get("retry_after") is not None:
            headers["retry-after"] = str(spec["retry_after"])
        self.scripted.append(
            ScriptedFault(
                path_prefix=str(spec.get("path_prefix", "/")),
                status=int(spec.get("status", 500)),
                count=int(spec.get("count", 1)),
                method=spec.get("method"),
                headers=headers,
                body=str(spec.get("body", "")),
                content_type=str(spec.get("content_type", "application/json")),
                late_ms=max(0.0, float(spec.get("late_ms", 0.0))),
                exact=bool(spec.get("exact", False)),
            )
        )

    def clear(self) -> None:
        self.latency_ms = 0.0
        self.down = False
        self.scripted.clear()
        self.release()
        self.most_in_flight = self.in_flight

    def hold(self, path: str, method: str | None = None, count: int = 1) -> None:
        self.holds.append(Hold(path, method, count))

    def release(self) -> None:
        for hold in self.holds:
            hold.released.set()
        self.holds.clear()

    def held(self) -> int:
        return sum(h.waiting for h in self.holds)

    async def wait_if_held(self, method: str, path: str) -> None:
        hold = next(
            (
                h
                for h in self.holds
                if h.path == path and h.method in (None, method) and h.count > 0
            ),
            None,
        )
        if hold is None:
            return
        hold.count -= 1
        hold.waiting += 1
        try:
            await hold.released.wait()
        finally:
            hold.waiting -= 1

    def take(self, method: str, path: str) -> ScriptedFault | None:
        for fault in self.scripted:
            matches = (
                path == fault.path_prefix if fault.exact else path.startswith(fault.path_prefix)
            )
            if matches and fault.method in (None, method):
                fault.count -= 1
                if fault.count <= 0:
                    self.scripted.remove(fault)
                return fault
        return None


class FaultMiddleware:
    """Applies `Faults` to every request except the `/_sim/` control surface."""

    def __init__(self, app: ASGIApp, faults: Faults, exempt_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.faults = faults
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        faults = self.faults
        faults.in_flight += 1
        faults.most_in_flight = max(faults.most_in_flight, faults.in_flight)
        try:
            await self._answer(scope, receive, send)
        finally:
            faults.in_flight -= 1

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        await self.faults.wait_if_held(scope["method"], path)
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if self.faults.down:
            self.faults.answered += 1
            await _answer(send, 503, {"content-type": "text/plain"}, b"Service Unavailable")
            return
        fault = self.faults.take(scope["method"], path)
        if fault is not None and fault.late_ms:
            self.faults.answered += 1
            await _answer_late(self.app, scope, receive, send, fault.late_ms)
            return
        if fault is not None:
            self.faults.answered += 1
            body = (
                fault.body.encode()
                or json.dumps({"success": False, "error": f"simulated {fault.status}"}).encode()
            )
            headers = {"content-type": fault.content_type, **fault.headers}
            await _answer(send, fault.status, headers, body)
            return
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _answer_late(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, late_ms: float
) -> None:
    """Carry the request out now; send its answer `late_ms` later (if the client still
    listens: one that gave up meanwhile just never sees it)."""
    held: list[Any] = []

    async def hold(message: Any) -> None:
        held.append(message)

    await app(scope, receive, hold)
    await asyncio.sleep(late_ms / 1000)
    try:
        for message in held:
            await send(message)
    except OSError:  # the client hung up
        pass
