"""Jinja2 templates (autoescaped) and the static files location."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.templating import Jinja2Templates

from sync.wording import plural

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
templates = Jinja2Templates(directory=str(ROOT / "templates"))


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    delta = max(0, int(time.time() - ts))
    if delta < 5:
        return "just now"
    if delta < 60:
        return f"{delta} s ago"
    if delta < 3600:
        return f"{delta // 60} min ago"
    if delta < 86400:
        return f"{delta // 3600} h ago"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _until(ts: float | None) -> str:
    if not ts:
        return "not scheduled"
    delta = int(ts - time.time())
    if delta <= 0:
        return "now"
    if delta < 60:
        return f"in {delta} s"
    if delta < 3600:
        return f"in {delta // 60} min"
    return "at " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


templates.env.filters["ago"] = _ago
templates.env.filters["until"] = _until
templates.env.filters["plural"] = plural
templates.env.filters["iso"] = lambda ts: time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                         time.gmtime(ts)) if ts else ""
templates.env.filters["clock"] = lambda ts: time.strftime("%H:%M UTC", time.gmtime(ts))
templates.env.filters["utc"] = lambda ts: time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                         time.gmtime(ts)) if ts else ""
