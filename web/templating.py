"""Jinja2 templates (autoescaped) and the static files location.

In a checkout they are the top-level `templates/` and `static/`; an installed wheel carries
them inside this package (pyproject.toml, force-include), since a wheel has no checkout root.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2
from starlette.templating import Jinja2Templates

from store.db import now
from sync.wording import plural

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
# Inside the installed package (a wheel), else the checkout's (editable install, tests).
ASSETS = PACKAGE if (PACKAGE / "templates").is_dir() else ROOT
STATIC_DIR = ASSETS / "static"
VENDOR_FILES = ("htmx.min.js", "app-extensions-sdk.umd.js")
templates = Jinja2Templates(directory=str(ASSETS / "templates"))


def missing_vendor_files() -> list[str]:
    """Front-end files `npm run build` should have placed; pages break without them."""
    return [name for name in VENDOR_FILES if not (STATIC_DIR / "vendor" / name).is_file()]


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    delta = max(0, int(now() - ts))  # stored times are on the app's clock (store/db.py)
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
    delta = int(ts - now())
    if delta <= 0:
        return "now"
    if delta < 60:
        return f"in {delta} s"
    if delta < 3600:
        return f"in {delta // 60} min"
    return "at " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


@jinja2.pass_context
def _url_for(context: dict[str, Any], name: str, /, **path_params: Any) -> str:
    """A path on this app (`/static/app.css`), never an absolute URL: Starlette's own builds one
    from the request's Host header, which the client chooses (issue #23)."""
    request = context["request"]
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return root + str(request.app.url_path_for(name, **path_params))


templates.env.globals["url_for"] = _url_for
templates.env.filters["ago"] = _ago
templates.env.filters["until"] = _until
templates.env.filters["plural"] = plural
templates.env.filters["iso"] = lambda ts: (
    time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else ""
)
templates.env.filters["clock"] = lambda ts: time.strftime("%H:%M UTC", time.gmtime(ts))
templates.env.filters["utc"] = lambda ts: (
    time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""
)
