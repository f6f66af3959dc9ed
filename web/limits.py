"""Request body limit for every endpoint: a clear 413 (or 400 for a malformed length) before
any handler reads a byte, also for chunked bodies without a Content-Length."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clients.digits import ascii_int
from web.errors import json_body

MAX_BODY = 1_000_000


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                raw = value  # h11 and httptools refuse a request with two different ones
        if raw is not None:
            length = ascii_int(raw.decode("latin-1"))
            if length is None:
                await _reject(send, 400, "malformed Content-Length")
                return
            if length > self.limit:
                await _reject(send, 413, "body too large")
                return
            # The server never delivers more than the declared length.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, 413, "body too large")


async def _reject(send: Send, status: int, text: str) -> None:
    body = json_body(text)  # a middleware answers before the app's HTTPProblem handler
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
