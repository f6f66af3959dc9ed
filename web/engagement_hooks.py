"""POST /webhooks/maileon/{company_id}/bounce (F15): the caller (web.webhooks.maileon) has
checked the company's secret token; here the call is stored with its job in one transaction and
answered at once (Maileon gives 5 s); the worker ties it to the person and writes to Pipedrive."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sync.syncback.engagement import bounce
from sync.syncback.events import _pick, _text, clean_email
from web.errors import HTTPProblem
from web.state import app_context, app_worker

EVENT = bounce.EVENT


def receive_bounce(request: Request, company_id: int, body: object) -> Response:
    if not isinstance(body, dict):
        raise HTTPProblem(400, "Bad request", "the JSON body must be an object", look="json")
    query = request.query_params
    data = {
        "email": clean_email(_pick(body, "email")) or clean_email(query.get("email")),
        "external_id": _text(_pick(body, "external_id", "eid")) or _text(query.get("eid")),
        "timestamp": _text(_pick(body, "timestamp")) or _text(query.get("timestamp")),
        "msg_id": _text(_pick(body, "msg_id")) or _text(query.get("msg_id")),
    }
    params = {k: v for k, v in query.items() if k != "token"}
    ctx = app_context(request)
    stored = bounce.record(ctx.store, company_id, data, {"params": params, "body": body})
    if stored:
        app_worker(request).wake()
    return JSONResponse({"ok": True, "duplicate": not stored})
