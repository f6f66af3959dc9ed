"""Query-string, paging and request-body helpers shared by the API routes."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from sandbox import strict_json
from sandbox.maileon.model import INT_RE, SECRET_PARAM, ApiError


def q_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ApiError(400, f"{name} must be true or false but was {raw}")


def q_int(
    request: Request, name: str, default: int | None, lo: int | None = None, hi: int | None = None
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not INT_RE.match(raw):
        raise ApiError(400, f"{name} must be an integer but was {raw}")
    value = int(raw)
    if lo is not None and value < lo:
        raise ApiError(400, f"{name} must be at least {lo} but was {value}")
    if hi is not None and value > hi:
        raise ApiError(400, f"{name} must not exceed {hi} but was {value}")
    return value


def q_permission(request: Request) -> int | None:
    return q_int(request, "permission", None, 1, 6)


def paging(request: Request, default_size: int = 100) -> tuple[int, int]:
    index = q_int(request, "page_index", 1, 1)
    size = q_int(request, "page_size", default_size, 1, 1000)
    assert index is not None and size is not None
    return index, size


def paged_headers(request: Request, response: Response, index: int, size: int, total: int) -> None:
    pages = math.ceil(total / size)
    response.headers["X-Pages"] = str(pages)
    response.headers["X-Items"] = str(total)
    base = str(request.url.replace(query=""))
    other = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k not in ("page_index", "page_size")
    ]

    def link(i: int, rel: str) -> tuple[bytes, bytes]:
        query = urlencode([*other, ("page_index", i), ("page_size", size)])
        return b"link", f'<{base}?{query}>; rel="{rel}"'.encode()

    if index < pages:
        response.raw_headers.append(link(index + 1, "next"))
    if index > 1:
        response.raw_headers.append(link(index - 1, "prev"))
    response.raw_headers.append(link(1, "start"))


def mask_url(url: str) -> str:
    """The URL with values of token/secret-like query parameters replaced by ***."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    masked = []
    for pair in parts.query.split("&"):
        name, sep, _value = pair.partition("=")
        masked.append(f"{name}=***" if sep and SECRET_PARAM.search(name) else pair)
    return parts._replace(query="&".join(masked)).geturl()


def param_display(param: dict[str, Any]) -> str:
    """`name=<field>` or `name=literal` (secret-looking literals masked) for the UI."""
    if param.get("custom_value") is not None:
        secret = SECRET_PARAM.search(param["name"])
        return f"{param['name']}={'***' if secret else param['custom_value']}"
    source = param.get("standard_contact_field") or param.get("custom_contact_field")
    return f"{param['name']}=<{source}>"


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return strict_json.loads(body)
    except ValueError as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from exc
