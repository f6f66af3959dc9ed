"""The control surface under `/_sim/` (no auth, exempt from fault injection)."""

from __future__ import annotations

import base64

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.pipedrive.api import ApiRoutes
from sandbox.pipedrive.helpers import fail, int_param, json_body, rfc3339, utcnow


class ControlRoutes(ApiRoutes):
    """Control endpoints for tests and the demo."""

    def _control_routes(self) -> list[BaseRoute]:
        """The `/_sim/` control endpoints."""
        ctl = self._ctl
        return [
            Route("/_sim/state", ctl(self._sim_state), methods=["GET"]),
            Route("/_sim/persons", ctl(self._sim_person_add), methods=["POST"]),
            Route("/_sim/persons/{id:int}", ctl(self._sim_person_patch), methods=["PATCH"]),
            Route("/_sim/persons/{id:int}", ctl(self._sim_person_delete), methods=["DELETE"]),
            Route("/_sim/persons/{id:int}/merge", ctl(self._sim_person_merge), methods=["POST"]),
            Route("/_sim/bulk_persons", ctl(self._sim_bulk), methods=["POST"]),
            Route("/_sim/companies", ctl(self._sim_company_add), methods=["POST"]),
            Route("/_sim/deals", ctl(self._sim_deal_add), methods=["POST"]),
            Route("/_sim/deals/{id:int}", ctl(self._sim_deal_patch), methods=["PATCH"]),
            Route("/_sim/deals/{id:int}", ctl(self._sim_deal_delete), methods=["DELETE"]),
            Route("/_sim/organizations", ctl(self._sim_org_add), methods=["POST"]),
            Route("/_sim/organizations/{id:int}", ctl(self._sim_org_patch), methods=["PATCH"]),
            Route("/_sim/faults", ctl(self._sim_faults), methods=["POST"]),
            Route("/_sim/latency", ctl(self._sim_latency), methods=["POST"]),
            Route("/_sim/down", ctl(self._sim_down), methods=["POST"]),
            Route("/_sim/reset_faults", ctl(self._sim_reset_faults), methods=["POST"]),
            Route("/_sim/expire_tokens", ctl(self._sim_expire), methods=["POST"]),
            Route("/_sim/revoke", ctl(self._sim_revoke), methods=["POST"]),
            Route("/_sim/users/{id:int}", ctl(self._sim_user_patch), methods=["PATCH"]),
            Route("/_sim/uninstall", ctl(self._sim_uninstall), methods=["POST"]),
            Route("/_sim/token_lifetime", ctl(self._sim_token_lifetime), methods=["POST"]),
            Route("/_sim/rate_limit", ctl(self._sim_rate_limit), methods=["POST"]),
            Route("/_sim/webhooks/{id:int}/delete", ctl(self._sim_hook_delete), methods=["POST"]),
            Route("/_sim/webhooks/{id:int}/ban", ctl(self._sim_hook_ban), methods=["POST"]),
            Route("/_sim/idle", ctl(self._sim_idle), methods=["POST", "GET"]),
        ]

    # ------------------------------------------------------------------ control routes

    async def _sim_state(self, request: Request) -> Response:
        cid = request.query_params.get("company_id")
        return JSONResponse(self.state(int(cid) if cid else None))

    async def _sim_person_add(self, request: Request) -> Response:
        body = await json_body(request)
        p = self._create_person(
            body.get("company_id"), body, "app", body.get("user_id"), strict=False
        )
        return JSONResponse(p, status_code=201)

    async def _sim_person_patch(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(
            self._update_person(
                int(request.path_params["id"]), body, "app", body.get("user_id"), strict=False
            )
        )

    async def _sim_person_delete(self, request: Request) -> Response:
        self._delete_person(int(request.path_params["id"]), "app", None)
        return JSONResponse({"success": True})

    async def _sim_person_merge(self, request: Request) -> Response:
        body = await json_body(request)
        into = int_param(body.get("into"), "into", 0)
        return JSONResponse(
            self._merge_persons(int(request.path_params["id"]), into, "app", body.get("user_id"))
        )

    async def _sim_company_add(self, request: Request) -> Response:
        """A company with one admin user (benchmarks with many companies)."""
        body = await json_body(request)
        cid = int_param(body.get("company_id"), "company_id", 0)
        admin = int_param(body.get("admin_id"), "admin_id", 0)
        name = str(body.get("name") or f"Company {cid}")
        domain = f"c{cid}"
        with self._lock:
            if cid < 1 or admin < 1 or cid in self.companies or admin in self.users:
                raise fail(400, "company_id and admin_id must be new positive ids")
            self.add_company(
                cid, name, domain, [(admin, "Admin", f"admin@{domain}.test", True)], []
            )
        return JSONResponse({"company_id": cid, "admin_id": admin}, status_code=201)

    async def _sim_bulk(self, request: Request) -> Response:
        body = await json_body(request)
        count = int_param(body.get("count"), "count", 0)
        if count < 1 or count > 100_000:
            raise fail(400, "count must be 1..100000")
        ids = self._bulk_persons(
            body.get("company_id"),
            count,
            str(body.get("email_domain") or "bulk.test"),
            bool(body.get("fire_webhooks", False)),
        )
        return JSONResponse(
            {"count": len(ids), "first_id": ids[0], "last_id": ids[-1], "ids": ids}, status_code=201
        )

    async def _sim_deal_add(self, request: Request) -> Response:
        body = await json_body(request)
        d = self._create_deal(
            body.get("company_id"), body, "app", body.get("user_id"), strict=False
        )
        return JSONResponse(d, status_code=201)

    async def _sim_deal_patch(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(
            self._update_deal(
                int(request.path_params["id"]), body, "app", body.get("user_id"), strict=False
            )
        )

    async def _sim_deal_delete(self, request: Request) -> Response:
        self._delete_deal(int(request.path_params["id"]), "app", None)
        return JSONResponse({"success": True})

    async def _sim_org_add(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(self._create_org(body.get("company_id"), body), status_code=201)

    async def _sim_org_patch(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(self._update_org(int(request.path_params["id"]), body))

    async def _sim_faults(self, request: Request) -> Response:
        self.faults.add(await json_body(request))
        return JSONResponse({"ok": True, "scripted": len(self.faults.scripted)})

    async def _sim_latency(self, request: Request) -> Response:
        self.faults.latency_ms = float((await json_body(request)).get("ms", 0))
        return JSONResponse({"ok": True})

    async def _sim_down(self, request: Request) -> Response:
        self.faults.down = bool((await json_body(request)).get("down", True))
        return JSONResponse({"ok": True})

    async def _sim_reset_faults(self, request: Request) -> Response:
        self.faults.clear()
        return JSONResponse({"ok": True})

    async def _sim_expire(self, request: Request) -> Response:
        self.expire_tokens()
        return JSONResponse({"ok": True})

    async def _sim_revoke(self, request: Request) -> Response:
        body = await json_body(request)
        self.revoke_user(int_param(body.get("user_id"), "user_id", 0))
        return JSONResponse({"ok": True})

    async def _sim_user_patch(self, request: Request) -> Response:
        """An admin promotes or demotes a user: `{"is_admin": bool}`."""
        body = await json_body(request)
        with self._lock:
            user = self.users.get(int(request.path_params["id"]))
            if user is None:
                raise fail(404, "User not found")
            if "is_admin" in body:
                user["is_admin"] = bool(body["is_admin"])
            return JSONResponse(dict(user))

    async def _sim_uninstall(self, request: Request) -> Response:
        """The user removes the app in Pipedrive: tokens die, webhooks go, callback gets DELETE."""
        body = await json_body(request)
        uid = int_param(body.get("user_id"), "user_id", 0)
        with self._lock:
            user = self.users.get(uid)
            if user is None:
                raise fail(404, "User not found")
            self.revoke_user(uid)
            self._uninstall_user(user["company_id"], uid)
            callback = self.registered_redirect_uri
        if callback:
            payload = {
                "client_id": self.client_id,
                "company_id": user["company_id"],
                "user_id": uid,
                "timestamp": rfc3339(utcnow()),
            }
            cred = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            with self._lock:
                job_id = next(self._job_ids)
                self._jobs[job_id] = None

            async def send() -> None:
                try:
                    await self._http().request(
                        "DELETE",
                        callback,
                        json=payload,
                        timeout=self.delivery_timeout,
                        headers={"authorization": f"Basic {cred}"},
                    )
                except httpx.HTTPError:
                    pass
                finally:
                    with self._lock:
                        self._jobs.pop(job_id, None)

            self._launch(send)
        return JSONResponse({"ok": True, "callback": callback})

    async def _sim_token_lifetime(self, request: Request) -> Response:
        seconds = (await json_body(request)).get("seconds")
        self.set_token_lifetime(None if seconds is None else float(seconds))
        return JSONResponse({"ok": True})

    async def _sim_rate_limit(self, request: Request) -> Response:
        self.rate_limit = int_param((await json_body(request)).get("per_2s"), "per_2s", 80)
        return JSONResponse({"ok": True})

    async def _sim_hook_delete(self, request: Request) -> Response:
        if not self.delete_webhook(int(request.path_params["id"])):
            raise fail(404, "Webhook not found")
        return JSONResponse({"ok": True})

    async def _sim_hook_ban(self, request: Request) -> Response:
        if not self.ban_webhook(int(request.path_params["id"])):
            raise fail(404, "Webhook not found")
        return JSONResponse({"ok": True})

    async def _sim_idle(self, request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "10"))
        except ValueError:
            raise fail(400, "timeout must be a number") from None
        return JSONResponse({"idle": await self.wait_idle_async(min(timeout, 600.0))})
