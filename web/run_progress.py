"""One progress view model and one Resume / Cancel path for the runs that work through all
persons a page per job: the import (web/imports.py) and the sync-rules runs (web/rules.py).
Both are a row with counters and a cursor, driven by one job at a time (store/runs.py,
sync/runs/paged.py); both stop when that job fails and resume or cancel alike, so the card
says the same things about both (partials/run_progress.html) and the same endpoints act."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from store import runs
from store.db import Store, now
from store.runs import RunTable
from web.auth import Identity, requires_admin
from web.state import app_context, app_worker

Card = Callable[[Request, Identity, str], Awaitable[Response]]  # the card, with a notice
Endpoint = Callable[[Request], Awaitable[Response]]


def run_progress(
    store: Store, t: RunTable, row: dict[str, Any], done: int, total: int | None
) -> dict[str, Any]:
    """The progress of a run's row: `done` of `total` (None: not known yet)."""
    running = row["state"] in t.working
    job = runs.latest_job(store, t, int(row["company_id"]), int(row["id"])) if running else None
    return progress(running, job, done, total)


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


def controls(
    t: RunTable, card: Card, cancel_idle: str, resume_idle: str
) -> tuple[Endpoint, Endpoint]:
    """The Cancel and Resume endpoints of a run (admins only). Cancel stops it before its next
    page; Resume queues the step of a stopped run again at its saved cursor. Each answers
    with the card, and a notice when there was nothing to cancel or resume."""

    @requires_admin
    async def cancel(request: Request, identity: Identity) -> Response:
        cancelled = runs.cancel(app_context(request).store, t, identity.company_id)
        return await card(request, identity, "" if cancelled else cancel_idle)

    @requires_admin
    async def resume(request: Request, identity: Identity) -> Response:
        resumed = runs.resume(app_context(request).store, t, identity.company_id)
        app_worker(request).wake()
        return await card(request, identity, "" if resumed else resume_idle)

    return cancel, resume
