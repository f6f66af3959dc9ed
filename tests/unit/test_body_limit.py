"""The body limit answers before a handler reads the body, also for chunked bodies."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from web.limits import BodyLimit


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def client() -> TestClient:
    app = Starlette(routes=[Route("/", echo, methods=["POST"])])
    app.add_middleware(BodyLimit, limit=100)
    return TestClient(app)


def test_small_body_passes() -> None:
    assert client().post("/", content=b"x" * 100).text == "100"


def test_declared_large_body_is_refused() -> None:
    r = client().post("/", content=b"x" * 101)
    assert r.status_code == 413 and r.json()["error"] == "body too large"


def test_chunked_large_body_is_refused() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * 50

    r = client().post("/", content=chunks())
    assert r.status_code == 413
