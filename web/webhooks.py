"""Webhook receivers. Authenticate, parse just enough, store event + job in one transaction,
then answer 200 — nothing slow on this path."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from clients import safe_json
from store import queue, tenants
from store.queue import IncomingEvent
from sync.deals.handler import job_entity_id
from sync.engine.context import Context
from sync.engine.worker import Worker
from sync.health import QUEUE_REFUSED
from sync.syncback import events as syncback
from sync.webhook import job_data
from sync.webhook.parse import BadPayload, parse_pipedrive
from web import engagement_hooks
from web.auth import basic_matches, basic_pair
from web.errors import HTTPProblem, render_problem
from web.state import app_context, app_worker

CREDENTIALS_TTL = 60.0
QUEUE_CHECK_TTL = 1.0  # seconds a company's queued bytes are reused
QUEUE_RETRY_AFTER = 60  # seconds; Pipedrive retries after 3, 30 and 150 s anyway
QUEUE_REFUSED_SHOWN = 3600.0  # the health card says so for an hour
WEBHOOK_USER = re.compile(r"^pd([0-9]{1,18})-[0-9a-f]{8}$")
JOB_KINDS = {"person": "person", "organization": "organization", "deal": "deal"}


async def read_json(request: Request, empty: object = None) -> object:
    """The JSON body (`empty` when there is none); an unreadable one raises a 400 problem.
    The size limit is enforced for every request by web.limits.BodyLimit."""
    body = await request.body()
    if not body.strip() and empty is not None:
        return empty
    try:
        return safe_json.loads(body)
    except safe_json.TooDeep as exc:
        raise refused(400, str(exc)) from None
    except (ValueError, UnicodeDecodeError):
        raise refused(400, "body is not valid JSON") from None


def _credentials(ctx: Context, company_id: int) -> tuple[str, str] | None:
    """The company's webhook credentials, cached briefly: they change only when the company is
    wiped (which forgets the cache) or set up anew."""
    cached = ctx.cached(company_id, "webhook_credentials", CREDENTIALS_TTL)
    if isinstance(cached, tuple):
        return cached
    found = tenants.webhook_credentials(ctx.store, company_id)
    if found is not None:
        ctx.remember(company_id, "webhook_credentials", found, CREDENTIALS_TTL)
    return found


class PipedriveWebhook:
    """POST /webhooks/pipedrive as a plain ASGI endpoint: the app's busiest route, so it reads
    the body and writes its JSON answer itself instead of building Starlette's Request and
    Response objects, and a POST reaches it past the router (web/shortcut.py). It gets the
    request id, body limit, access log and plain 500 every route gets, and its refusals are
    rendered by the app's one HTTPProblem handler."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        state = scope["app"].state
        try:
            status, body, headers = await receive_pipedrive(
                state.ctx, state.worker, header, b"".join(chunks)
            )
        except HTTPProblem as exc:  # past the exception middleware (web/shortcut.py)
            response = await render_problem(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


pipedrive = PipedriveWebhook()
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, JSON body, extra headers
STORED = json.dumps({"ok": True, "duplicate": False}).encode()
DUPLICATE = json.dumps({"ok": True, "duplicate": True}).encode()


TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 503: "Busy"}


def refused(status: int, text: str, **headers: str) -> HTTPProblem:
    """A webhook's refusal: answered as JSON `{"ok": false, "error": text}` by the one handler
    of HTTPProblem (web/errors.py), like every other view's."""
    return HTTPProblem(status, TITLES[status], text, look="json", headers=headers)


async def receive_pipedrive(ctx: Context, worker: Worker, header: str | None, raw: bytes) -> Answer:
    """Authenticate, parse, store event + job (answered only after the commit); a refusal
    raises `refused` (rendered by the app's HTTPProblem handler)."""
    given = basic_pair(header)
    match = WEBHOOK_USER.match(given.split(":", 1)[0])
    company_id = int(match.group(1)) if match else 0
    expected = _credentials(ctx, company_id) if match else None
    if expected is None or not basic_matches(given, *expected):
        raise refused(401, "unauthorized", **{"WWW-Authenticate": 'Basic realm="webhooks"'})
    try:
        body = safe_json.loads(raw)  # bytes: the parser checks the UTF-8 itself
    except safe_json.TooDeep as exc:
        raise refused(400, str(exc)) from None
    except ValueError:  # orjson's JSONDecodeError, invalid UTF-8 included
        raise refused(400, "body is not valid JSON") from None
    try:
        event = parse_pipedrive(body)
    except BadPayload as exc:
        raise refused(400, str(exc)) from None
    if event.company_id != company_id:
        raise refused(400, "the event belongs to another company")
    kind = JOB_KINDS.get(event.entity)
    if kind is None:
        return (
            200,
            json.dumps({"ok": True, "ignored": f"{event.entity} events are not synced"}).encode(),
            [],
        )
    waiting = await queued(ctx, company_id)
    if waiting.bytes >= ctx.config.queue_limit_bytes:
        ctx.remember(company_id, QUEUE_REFUSED, time.time(), QUEUE_REFUSED_SHOWN)
        raise refused(
            503,
            "this company has too many changes waiting; try again later",
            **{"Retry-After": str(QUEUE_RETRY_AFTER)},
        )
    job_payload = {
        "action": event.action,
        "data": job_data.kept(event.entity, event.current),
        "previous": job_data.kept(event.entity, event.previous),
        "merged_to_id": event.merged_to_id,
        "raw_action": event.raw_action,
        "event_id": event.dedupe_key,
    }
    entity_id = job_entity_id(event.entity_id, event.action) if kind == "deal" else event.entity_id
    job_json = orjson.dumps(job_payload).decode()
    stored = await ctx.intake.record(
        IncomingEvent(
            company_id,
            "pipedrive",
            event.dedupe_key,
            f"{event.entity}.{event.action}",
            entity_id,
            "",  # the raw body is not kept (issue #23): the job holds what the sync uses
            kind,
            job_json,
            event.update_time,
            event.action,
            ctx.config.debounce_seconds,
            ctx.config.debounce_max_seconds,
        )
    )
    if stored:
        waiting.bytes += len(job_json.encode())
        worker.wake(due_at=time.monotonic() + ctx.config.debounce_seconds)
    return 200, STORED if stored else DUPLICATE, []


@dataclass
class Queued:
    """A company's waiting bytes: read from the store at most once a second (in a thread),
    counted up by each change stored meanwhile."""

    bytes: int


async def queued(ctx: Context, company_id: int) -> Queued:
    known = ctx.cached(company_id, "queued_bytes", QUEUE_CHECK_TTL)
    if isinstance(known, Queued):
        return known
    fresh = Queued(await asyncio.to_thread(queue.queued_bytes, ctx.store, company_id))
    ctx.remember(company_id, "queued_bytes", fresh, QUEUE_CHECK_TTL)
    return fresh


# --- Maileon (F10) ---------------------------------------------------------------------------
COMPANY_ID = re.compile(r"^[0-9]{1,18}$")


async def maileon(request: Request) -> Response:
    """POST /webhooks/maileon/{company_id}/{event}: Maileon's `unsubscription` / `doi` calls.

    Maileon cannot sign or authenticate its calls, so the URL's `token` parameter (the company's
    secret) is the credential: missing → 401, wrong or unknown company → 403, compared in
    constant time, never logged nor stored. The body is a JSON object, or empty when only URL
    parameters are configured."""
    ctx = app_context(request)
    token = request.query_params.get("token", "")
    if not token:
        raise refused(401, "token missing")
    raw_company = request.path_params["company_id"]
    settings = (
        tenants.get_settings(ctx.store, int(raw_company)) if COMPANY_ID.match(raw_company) else None
    )
    expected = settings.maileon_webhook_token if settings is not None else ""
    if (
        settings is None
        or not expected
        or not hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode())
    ):
        raise refused(403, "forbidden")
    event = request.path_params["event"]
    if event == engagement_hooks.EVENT:
        body = await read_json(request, empty={})
        return engagement_hooks.receive_bounce(request, settings.company_id, body)
    if event not in syncback.EVENTS:
        raise refused(404, f"the app does not handle Maileon {event!r} events")
    body = await read_json(request, empty={})
    if not isinstance(body, dict):
        raise refused(400, "the JSON body must be an object")
    params = {k: v for k, v in request.query_params.items() if k != "token"}
    ev = syncback.parse_event(event, params, body)
    stored = syncback.record(
        ctx.store, settings.company_id, ev, "webhook", {"params": params, "body": body}
    )
    if stored:
        app_worker(request).wake()
    return JSONResponse({"ok": True, "duplicate": not stored})
