"""JSON from outside (webhook bodies, the uninstall callback, API answers) with a depth limit.

The parser is orjson (a well-kept C-speed parser: the webhook intake's hot path, issue 14).
It stops at 1,024 levels with a JSONDecodeError; `loads` refuses anything nested deeper than
MAX_DEPTH even when the parser copes. orjson is stricter than Python's json: no NaN or
Infinity, no lone surrogates, UTF-8 only; such bodies are refused like any invalid JSON.
The depth scan runs only when the text holds more than MAX_DEPTH brackets, so ordinary bodies
cost one C-speed count; a hostile 1 MB body costs tens of ms.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

import orjson

MAX_DEPTH = 64


class TooDeep(ValueError):
    """The JSON nests arrays/objects deeper than allowed."""


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:  # a ValueError
        if str(exc).startswith("depth limit exceeded"):
            raise TooDeep(f"JSON nested deeper than {max_depth} levels") from None
        raise
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") > max_depth and _deeper_than(raw, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return value


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def _deeper_than(valid_json: bytes, limit: int) -> bool:
    """Nesting depth of text already parsed as JSON, with C-level iteration only (no Python
    loop per character): drop escapes and strings (outside a string a quote only delimits
    one), keep the brackets, and take the running sum's maximum."""
    text = valid_json.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(text.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit
