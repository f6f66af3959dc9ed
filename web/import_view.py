"""What the "Import existing contacts" card shows about the latest import (F12)."""

from __future__ import annotations

import json
from typing import Any

from store import imports
from store.db import Store, now


def import_view(store: Store, company_id: int) -> dict[str, Any] | None:
    """The latest import's progress, its skip reasons, and whether it waits or stopped."""
    row = imports.latest(store, company_id)
    if row is None:
        return None
    job = imports.latest_job(store, company_id, row["id"])
    skipped = json.loads(row["skipped"] or "{}")
    running = row["state"] == "running"
    stopped = running and (job is None or job["state"] in ("failed", "done"))
    waiting = ""
    if running and job is not None and job["state"] == "pending" and job["last_error"]:
        seconds = max(0, int(job["run_after"] - now() + 0.999))
        waiting = f"{job['last_error']} — continuing in {seconds} s" if seconds \
            else f"{job['last_error']} — continuing now"
    total = row["total"]
    if total is not None:
        total = max(int(total), int(row["done"]))
    return {
        "id": row["id"], "state": row["state"], "phase": row["phase"], "running": running,
        "stopped": stopped, "error": (job or {}).get("last_error", "") if stopped else "",
        "waiting": waiting, "reading": row["phase"] == "reading", "read": row["counted"],
        "total": total, "done": row["done"], "imported": row["imported"],
        "skipped": sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])),
        "skipped_total": sum(skipped.values()), "include_deals": bool(row["include_deals"]),
        "deals_queued": row["deals_queued"], "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "percent": int(100 * row["done"] / total) if total else (100 if total == 0 else 0),
    }
