"""JSON from outside (webhook bodies, the uninstall callback, API answers) with a depth limit.

Python's parser recurses: about 1,000 levels raise RecursionError (a 500 on a request path).
`loads` turns that into a ValueError, and refuses anything nested deeper than MAX_DEPTH even
when the parser copes. The depth walk runs only when the text holds more than MAX_DEPTH
brackets, so ordinary bodies cost one C-speed count.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


class TooDeep(ValueError):
    """The JSON nests arrays/objects deeper than allowed."""


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels") from None
    brackets = (data.count("[") + data.count("{")) if isinstance(data, str) \
        else (data.count(b"[") + data.count(b"{"))
    if brackets > max_depth and _deeper_than(value, max_depth):
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Iterative (no recursion of our own), stops at the first node beyond the limit."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False
