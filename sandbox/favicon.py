"""A small SVG icon for each simulator's browser tab (instead of a 404 in every page load)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="7" fill="{color}"/>'
    '<text x="16" y="23" font-family="sans-serif" font-size="19" font-weight="700" '
    'fill="#fff" text-anchor="middle">{letter}</text></svg>'
)


def favicon_route(letter: str, color: str) -> Route:
    body = SVG.format(letter=letter, color=color)

    async def favicon(request: Request) -> Response:
        return Response(
            body, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"}
        )

    return Route("/favicon.ico", favicon, methods=["GET"])
