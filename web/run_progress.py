"""One progress view model for the runs that work through all persons a page per job: the
import (web/imports.py) and the sync-rules runs (web/rules.py). Both are a row with counters
and a cursor, driven by one job at a time; both stop when that job fails and resume or cancel
alike, so the card says the same things about both."""

from __future__ import annotations

from typing import Any

from store.db import now


def progress(
    running: bool, job: dict[str, Any] | None, done: int, total: int | None
) -> dict[str, Any]:
    """Whether the run works, waits for a retry or stopped, and how far it is."""
    stopped = running and (job is None or job["state"] in ("failed", "done"))
    return {
        "running": running,
        "stopped": stopped,
        "error": (job or {}).get("last_error", "") if stopped else "",
        "waiting": _waiting(job) if running else "",
        "percent": min(100, int(100 * done / total)) if total else (100 if total == 0 else 0),
    }


def _waiting(job: dict[str, Any] | None) -> str:
    """A step waiting for its retry: why, and when it goes on."""
    if job is None or job["state"] != "pending" or not job["last_error"]:
        return ""
    seconds = max(0, int(job["run_after"] - now() + 0.999))
    when = f"in {seconds} s" if seconds else "now"
    return f"{job['last_error']} — continuing {when}"
