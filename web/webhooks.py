"""Webhook receivers. Authenticate, parse just enough, store event + job in one transaction,
then answer 200 — nothing slow on this path."""

from __future__ import annotations

import json
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from store import queue, tenants
from sync.intake import BadPayload, parse_pipedrive
from web.auth import basic_username, check_basic
from web.settings import _ctx

MAX_BODY = 1_000_000
WEBHOOK_USER = re.compile(r"^pd(\d{1,18})-[0-9a-f]{8}$")
JOB_KINDS = {"person": "person", "organization": "organization"}


def _error(status: int, text: str, **headers: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": text}, status_code=status, headers=headers)


async def read_json(request: Request) -> object:
    """The JSON body, or a Response explaining why it cannot be read."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _error(413, "body too large")
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "body too large")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body is not valid JSON")


async def pipedrive(request: Request) -> Response:
    ctx = _ctx(request)
    header = request.headers.get("authorization")
    match = WEBHOOK_USER.match(basic_username(header))
    settings = tenants.get_settings(ctx.store, int(match.group(1))) if match else None
    if settings is None or not check_basic(header, settings.webhook_user,
                                           settings.webhook_password):
        return _error(401, "unauthorized", **{"WWW-Authenticate": 'Basic realm="webhooks"'})
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    try:
        event = parse_pipedrive(body)
    except BadPayload as exc:
        return _error(400, str(exc))
    if event.company_id != settings.company_id:
        return _error(400, "the event belongs to another company")
    kind = JOB_KINDS.get(event.entity)
    if kind is None:
        return JSONResponse({"ok": True, "ignored": f"{event.entity} events are not synced"})
    assert isinstance(body, dict)
    job_payload = {"action": event.action, "data": event.current, "previous": event.previous,
                   "merged_to_id": event.merged_to_id, "raw_action": event.raw_action,
                   "event_id": event.dedupe_key}
    stored = queue.record_event(
        ctx.store, company_id=settings.company_id, source="pipedrive",
        dedupe_key=event.dedupe_key, kind=f"{event.entity}.{event.action}",
        entity_id=event.entity_id, payload=body, job_kind=kind, job_payload=job_payload,
        version=event.update_time)
    if stored:
        request.app.state.worker.wake()
    return JSONResponse({"ok": True, "duplicate": not stored})
