"""GET /healthz: database, worker liveness and queue depth."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from store import keycheck, queue
from web.state import app_context, app_worker

WORKER_STALE_AFTER = 30.0


async def healthz(request: Request) -> JSONResponse:
    ctx = app_context(request)
    worker = app_worker(request)
    try:
        ctx.store.ping()
        database = "ok"
        depth = queue.depth(ctx.store)
        secrets = "ok" if keycheck.readable(ctx.store) else "unreadable"
    except Exception:  # a broken database is exactly what this endpoint reports
        database, depth, secrets = "unavailable", -1, "unknown"
    age = time.monotonic() - worker.heartbeat if worker.heartbeat else None
    trouble = ctx.worker_trouble  # the worker's database calls fail (it keeps trying)
    crashing = worker.supervisor.failing()  # the loop keeps crashing (it keeps restarting)
    alive = age is not None and age < WORKER_STALE_AFTER
    healthy = database == "ok" and secrets == "ok" and alive and trouble is None and not crashing
    return JSONResponse(
        {
            "status": "ok" if healthy else "degraded",
            "database": database,
            "secrets": secrets,  # ENCRYPTION_KEY reads the stored secrets
            "worker": {
                "alive": alive,
                "failing": crashing or (None if trouble is None else trouble.message),
                "restarts": worker.supervisor.streak,
                "running_jobs": len(worker.running),
                "heartbeat_age_seconds": None if age is None else round(age, 2),
            },
            "queue_depth": depth,
        },
        status_code=200 if healthy else 503,
    )
