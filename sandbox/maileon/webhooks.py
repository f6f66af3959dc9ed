"""Webhook registrations (API) and the outgoing webhook calls with their retries."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.digits import ascii_int
from sandbox.maileon.core import SimCore
from sandbox.maileon.gate import acc_of
from sandbox.maileon.model import (
    RETRY_DELAYS,
    WEBHOOK_EVENTS,
    WEBHOOK_TIMEOUT,
    Account,
    ApiError,
    fmt_ts,
    now_ms,
)
from sandbox.maileon.params import read_json
from sandbox.maileon.xmlio import id_response, xml_text


class WebhookRoutes:
    """Registering webhooks and calling them when a contact event happens."""

    def __init__(self, core: SimCore) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        """Routes under `/1.0`."""
        return [
            Route("/webhooks", self.list_webhooks, methods=["GET"]),
            Route("/webhooks", self.create_webhook, methods=["POST"]),
            Route("/webhooks/{webhook_id}", self.get_webhook, methods=["GET"]),
            Route("/webhooks/{webhook_id}", self.update_webhook, methods=["PUT"]),
            Route("/webhooks/{webhook_id}", self.delete_webhook, methods=["DELETE"]),
        ]

    # -- webhooks --------------------------------------------------------------------------------

    @staticmethod
    def webhook_spec(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        url = data.get("url")
        if not _http_url(url):
            raise ApiError(400, "url must be an http(s) URL")
        event = data.get("event")
        if event not in WEBHOOK_EVENTS:
            raise ApiError(400, f"event must be one of {', '.join(WEBHOOK_EVENTS)}")
        params = data.get("urlParams") or []
        if not isinstance(params, list):
            raise ApiError(400, "urlParams must be a list")
        clean_params = []
        for p in params:
            if not isinstance(p, dict) or not p.get("name"):
                raise ApiError(400, "every url parameter needs a name")
            clean_params.append(
                {
                    "name": str(p["name"]),
                    "standard_contact_field": p.get("standard_contact_field"),
                    "custom_contact_field": p.get("custom_contact_field"),
                    "custom_value": p.get("custom_value"),
                }
            )
        lists = {}
        for key in ("customFields", "standardFields", "eventFields"):
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ApiError(400, f"{key} must be a list of strings")
            lists[key] = value
        return {"url": url, "event": event, "urlParams": clean_params, **lists}

    async def list_webhooks(self, request: Request) -> Response:
        return JSONResponse(list(acc_of(request).webhooks.values()))

    async def create_webhook(self, request: Request) -> Response:
        acc = acc_of(request)
        spec = self.webhook_spec(await read_json(request))
        wid = self.core.next_id("webhook")
        acc.webhooks[wid] = {"id": wid, "newsletterAccountId": acc.newsletter_account_id, **spec}
        return id_response(wid, 201)

    def webhook_of(self, request: Request) -> dict[str, Any]:
        raw = request.path_params["webhook_id"]
        number = ascii_int(raw)
        hook = None if number is None else acc_of(request).webhooks.get(number)
        if hook is None:
            raise ApiError(404, "webhook not found")
        return hook

    async def get_webhook(self, request: Request) -> Response:
        return JSONResponse(self.webhook_of(request))

    async def update_webhook(self, request: Request) -> Response:
        hook = self.webhook_of(request)
        hook.update(self.webhook_spec(await read_json(request)))
        return Response(status_code=200)

    async def delete_webhook(self, request: Request) -> Response:
        hook = self.webhook_of(request)
        del acc_of(request).webhooks[hook["id"]]
        return Response(status_code=200)

    # -- outgoing webhook calls ---------------------------------------------------------------

    @staticmethod
    def contact_value(snap: dict[str, Any], standard: str | None, custom: str | None) -> Any:
        if standard:
            low = standard.lower()
            if low in ("email", "external_id", "id"):
                return snap.get(low)
            return snap["standard_fields"].get(standard.upper())
        if custom:
            return snap["custom_fields"].get(custom)
        return None

    def webhook_url(self, hook: dict[str, Any], snap: dict[str, Any]) -> str:
        pairs = []
        for p in hook["urlParams"]:
            name = quote(p["name"], safe="")
            if p.get("custom_value") is not None:
                pairs.append(f"{name}={quote(str(p['custom_value']), safe='')}")
                continue
            value = self.contact_value(
                snap, p.get("standard_contact_field"), p.get("custom_contact_field")
            )
            text = "" if value is None else xml_text(value)
            # Maileon's quirk: '+' in contact values is not percent-encoded
            safe = "+" if p.get("standard_contact_field") else ""
            pairs.append(f"{name}={quote(text, safe=safe)}")
        url = str(hook["url"])
        if not pairs:
            return url
        return url + ("&" if "?" in url else "?") + "&".join(pairs)

    def webhook_body(
        self, hook: dict[str, Any], snap: dict[str, Any], event_data: dict[str, Any]
    ) -> dict[str, Any] | None:
        if not (hook["standardFields"] or hook["eventFields"] or hook["customFields"]):
            return None
        body: dict[str, Any] = {}
        for name in hook["standardFields"]:
            body[name] = self.contact_value(snap, name, None)
        for name in hook["customFields"]:
            body[name] = self.contact_value(snap, None, name)
        for name in hook["eventFields"]:
            body[name] = event_data.get(name)
        return body

    def fire(
        self, acc: Account, event: str, snap: dict[str, Any], event_data: dict[str, Any]
    ) -> None:
        for hook in list(acc.webhooks.values()):
            if hook["event"] != event:
                continue
            body = self.webhook_body(hook, snap, event_data)
            delivery: dict[str, Any] = {
                "id": self.core.next_id("delivery"),
                "webhook_id": hook["id"],
                "event": event,
                "url": self.webhook_url(hook, snap),
                "body": body,
                "state": "pending",
                "status": None,
                "attempts": [],
                "created": fmt_ts(now_ms()),
                "contact_id": snap["id"],
            }
            acc.deliveries.append(delivery)
            self.core.inflight += 1
            task = asyncio.get_running_loop().create_task(self.deliver(delivery))
            self.core.tasks.add(task)
            task.add_done_callback(self.core.tasks.discard)

    def _client(self) -> httpx.AsyncClient:
        if self.core.client is None:
            self.core.client = httpx.AsyncClient(
                timeout=WEBHOOK_TIMEOUT,
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),  # a connection per attempt
            )
        return self.core.client

    async def deliver(self, delivery: dict[str, Any]) -> None:
        headers = {"User-Agent": "Maileon-Webhook-Simulator"}
        content = b""
        if delivery["body"] is not None:
            content = json.dumps(delivery["body"]).encode()
            headers["Content-Type"] = "application/json"
        try:
            for delay in (0.0, *RETRY_DELAYS):
                if delay:
                    await asyncio.sleep(delay * self.core.time_scale)
                attempt: dict[str, Any] = {"time": fmt_ts(now_ms())}
                try:
                    resp = await self._client().post(
                        delivery["url"], content=content, headers=headers
                    )
                    attempt["status"] = delivery["status"] = resp.status_code
                except httpx.HTTPError as exc:
                    attempt["error"] = f"{type(exc).__name__}: {exc}"
                    delivery["status"] = attempt["error"]
                delivery["attempts"].append(attempt)
                if isinstance(attempt.get("status"), int) and 200 <= attempt["status"] < 300:
                    delivery["state"] = "delivered"
                    return
            delivery["state"] = "failed"
        except asyncio.CancelledError:
            delivery["state"] = "cancelled"
            raise
        finally:
            self.core.inflight -= 1


def _http_url(url: Any) -> bool:
    """An http(s) URL with a host; `http://[::1` and `http://host:99999` make urlsplit raise."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - read for its check
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
