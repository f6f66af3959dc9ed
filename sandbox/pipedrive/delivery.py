"""Webhook events: queued per matching webhook, delivered with retries and bans."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from sandbox.pipedrive.core import SimCore
from sandbox.pipedrive.helpers import changed_fields, iso_ms, utcnow
from sandbox.pipedrive.model import BAN_SECONDS, BAN_THRESHOLD, RETRY_DELAYS, Event, Job
from sandbox.pipedrive.representations import Representations


class Delivery:
    """Emits events and delivers them in background tasks; `wait_idle` waits for them."""

    def __init__(self, core: SimCore, rep: Representations) -> None:
        self.core = core
        self.rep = rep

    # ------------------------------------------------------------------ webhook events

    def emit(
        self,
        company_id: int,
        entity: str,
        entity_id: int,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        source: str,
        user_id: int,
        *,
        v2: str | None,
        v1: str | None,
        merged_to_id: int | None = None,
        merged_from_id: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Queue deliveries of one event to every matching webhook (called under the lock)."""
        hooks = self._matching_hooks(company_id, entity, v2, v1)
        if not hooks:
            return
        ev = Event(
            id=str(uuid.uuid4()),
            correlation_id=correlation_id or str(uuid.uuid4()),
            company_id=company_id,
            entity=entity,
            entity_id=entity_id,
            v2_action=v2,
            v1_action=v1,
            change_source=source,
            user_id=user_id,
            timestamp=utcnow(),
            merged_to_id=merged_to_id,
            merged_from_id=merged_from_id,
        )
        self._set_bodies(ev, before, after)
        now = time.time()
        for hook in hooks:
            if (hook["banned_until"] or 0) > now:
                self._record(hook, ev, 1, None, "webhook banned: event lost", lost=True)
                continue
            job = Job(next(self.core.job_ids), hook["id"], ev)
            self.core.jobs[job.id] = None
            self.launch(functools.partial(self._deliver, job))

    def _matching_hooks(
        self, company_id: int, entity: str, v2: str | None, v1: str | None
    ) -> list[dict[str, Any]]:
        """The company's webhooks for this object and action (v1 hooks get the v1 action)."""
        hooks = []
        for hook in self.core.webhooks.values():
            if hook["company_id"] != company_id or hook["event_object"] not in (entity, "*"):
                continue
            action = v2 if hook["version"] == "2.0" else v1
            if action is not None and hook["event_action"] in (action, "*"):
                hooks.append(hook)
        return hooks

    def _set_bodies(
        self, ev: Event, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        """The event's v1 current/previous and v2 data/previous (a change's previous holds
        only the changed fields; a merge names the other person)."""
        b2, b1 = self.rep._render(ev.entity, before) if before else (None, None)
        a2, a1 = self.rep._render(ev.entity, after) if after else (None, None)
        ev.v1_current, ev.v1_previous = a1, b1
        if ev.v2_action == "create":
            ev.v2_data, ev.v2_previous = a2, None
        elif ev.v2_action == "delete":
            ev.v2_data, ev.v2_previous = None, b2
            if ev.merged_to_id is not None and b2 is not None:
                b2["merged_to_id"] = ev.merged_to_id
        elif ev.v2_action == "change" and a2 is not None and b2 is not None:
            ev.v2_data, ev.v2_previous = a2, changed_fields(b2, a2)
            if ev.merged_from_id is not None:
                a2["merged_from_id"] = ev.merged_from_id

    def _payload(self, hook: dict[str, Any], ev: Event, attempt: int) -> dict[str, Any]:
        permitted = [u["id"] for u in self.core.users.values() if u["company_id"] == ev.company_id]
        if hook["version"] == "2.0":
            meta: dict[str, Any] = {
                "action": ev.v2_action,
                "entity": ev.entity,
                "company_id": str(ev.company_id),
                "correlation_id": ev.correlation_id,
                "entity_id": str(ev.entity_id),
                "id": ev.id,
                "is_bulk_edit": False,
                "timestamp": iso_ms(ev.timestamp),
                "type": "application",
                "user_id": str(ev.user_id),
                "version": "2.0",
                "webhook_id": str(hook["id"]),
                "webhook_owner_id": str(hook["owner_id"]),
                "change_source": ev.change_source,
                "attempt": attempt,
                "host": self.core.host,
                "permitted_user_ids": [str(u) for u in permitted],
            }
            if ev.merged_to_id is not None:
                meta["merged_to_id"] = str(ev.merged_to_id)
            if ev.merged_from_id is not None:
                meta["merged_from_id"] = str(ev.merged_from_id)
            return {"data": ev.v2_data, "previous": ev.v2_previous, "meta": meta}
        micro = int(ev.timestamp.timestamp() * 1_000_000)
        filters: dict[str, list[Any]] = {"current": [], "previous": []}
        return {
            "v": 1,
            "matches_filters": filters,
            "meta": {
                "v": 1,
                "action": ev.v1_action,
                "object": ev.entity,
                "change_source": ev.change_source,
                "id": ev.entity_id,
                "company_id": ev.company_id,
                "user_id": ev.user_id,
                "host": self.core.host,
                "timestamp": micro // 1_000_000,
                "timestamp_micro": micro,
                "permitted_user_ids": [],
                "trans_pending": False,
                "is_bulk_update": False,
                "pipedrive_service_name": False,
                "matches_filters": filters,
                "webhook_id": str(hook["id"]),
            },
            "retry": attempt - 1,
            "current": ev.v1_current,
            "previous": ev.v1_previous,
            "event": f"{ev.v1_action}.{ev.entity}",
        }

    def _record(
        self,
        hook: dict[str, Any],
        ev: Event,
        attempt: int,
        status: int | None,
        error: str | None,
        *,
        lost: bool = False,
    ) -> None:
        self.core.deliveries.append(
            {
                "webhook_id": hook["id"],
                "company_id": hook["company_id"],
                "event_id": ev.id,
                "entity": ev.entity,
                "entity_id": ev.entity_id,
                "action": ev.v2_action if hook["version"] == "2.0" else ev.v1_action,
                "version": hook["version"],
                "url": hook["subscription_url"],
                "attempt": attempt,
                "status": status,
                "error": error,
                "lost": lost,
                "time": iso_ms(utcnow()),
            }
        )

    async def _deliver(self, job: Job) -> None:
        try:
            for attempt in range(1, 5):
                with self.core.lock:
                    hook = self.core.webhooks.get(job.webhook_id)
                    if hook is None:
                        return
                    if (hook["banned_until"] or 0) > time.time():
                        self._record(
                            hook, job.event, attempt, None, "webhook banned: event lost", lost=True
                        )
                        return
                    self.core.jobs[job.id] = None
                    body = json.dumps(self._payload(hook, job.event, attempt))
                    url = hook["subscription_url"]
                    headers = {
                        "content-type": "application/json",
                        "user-agent": "Pipedrive Webhooks (simulated)",
                    }
                    if hook["http_auth_user"] or hook["http_auth_password"]:
                        cred = f"{hook['http_auth_user'] or ''}:{hook['http_auth_password'] or ''}"
                        headers["authorization"] = (
                            "Basic " + base64.b64encode(cred.encode()).decode()
                        )
                status: int | None = None
                error: str | None = None
                try:
                    resp = await self.http().post(
                        url, content=body, headers=headers, timeout=self.core.delivery_timeout
                    )
                    status = resp.status_code
                except httpx.TimeoutException:
                    error = "timeout"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                ok = status is not None and 200 <= status < 300
                with self.core.lock:
                    self._record(hook, job.event, attempt, status, error)
                    hook["last_delivery_time"] = iso_ms(utcnow())
                    hook["last_http_status"] = status
                    if not ok and attempt == 1:
                        hook["fail_count"] += 1
                        if hook["fail_count"] >= BAN_THRESHOLD:
                            hook["banned_until"] = time.time() + BAN_SECONDS * self.core.time_scale
                            hook["fail_count"] = 0
                    if ok or attempt == 4:
                        return
                    delay = RETRY_DELAYS[attempt - 1] * self.core.time_scale
                    self.core.jobs[job.id] = time.monotonic() + delay
                await asyncio.sleep(delay)
        finally:
            with self.core.lock:
                self.core.jobs.pop(job.id, None)

    def http(self) -> httpx.AsyncClient:
        if self.core.client is None:
            self.core.client = httpx.AsyncClient(follow_redirects=False)
        return self.core.client

    def launch(self, factory: Callable[[], Awaitable[Any]]) -> None:
        """Run a coroutine on the server loop, from that loop or from any other thread."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (self.core.loop is None or running is self.core.loop):
            self.core.loop = running
            self.spawn(factory)
        elif self.core.loop is not None and self.core.loop.is_running():
            self.core.loop.call_soon_threadsafe(self.spawn, factory)
        else:
            self.core.pending_jobs.append(factory)

    def spawn(self, factory: Callable[[], Awaitable[Any]]) -> None:
        task = asyncio.ensure_future(factory())
        self.core.tasks.add(task)
        task.add_done_callback(self.core.tasks.discard)

    def _idle(self, deadline: float) -> bool:
        with self.core.lock:
            return not self.core.pending_jobs and all(
                due is not None and due > deadline for due in self.core.jobs.values()
            )

    async def wait_idle_async(self, within: float = 10.0) -> bool:
        deadline = time.monotonic() + within
        while not self._idle(deadline):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block (from a thread other than the server's) until no delivery is due."""
        deadline = time.monotonic() + timeout
        while not self._idle(deadline):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True
