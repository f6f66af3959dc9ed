"""The control surface under `/_sim/` (no auth, exempt from fault injection)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import controls
from sandbox.pipedrive.core import TEMPLATES, SimCore
from sandbox.pipedrive.deals import DealsAndOrgs
from sandbox.pipedrive.delivery import Delivery
from sandbox.pipedrive.gate import Gate
from sandbox.pipedrive.helpers import fail, int_param, json_body, rfc3339, utcnow
from sandbox.pipedrive.model import ADMIN_APPS
from sandbox.pipedrive.persons import Persons
from sandbox.pipedrive.public import PythonApi
from sandbox.pipedrive.webhooks import WebhookAdmin


class ControlRoutes:
    """Control endpoints for tests and the demo."""

    def __init__(
        self,
        core: SimCore,
        delivery: Delivery,
        gate: Gate,
        hooks: WebhookAdmin,
        orgs_deals: DealsAndOrgs,
        people: Persons,
        pyapi: PythonApi,
    ) -> None:
        self.core = core
        self.delivery = delivery
        self.gate = gate
        self.hooks = hooks
        self.orgs_deals = orgs_deals
        self.people = people
        self.pyapi = pyapi

    def routes(self) -> list[BaseRoute]:
        """The `/_sim/` control endpoints."""
        ctl = self.gate._ctl
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
            Route("/_sim/companies/{id:int}", ctl(self._sim_company_patch), methods=["PATCH"]),
            Route("/_sim/uninstall", ctl(self._sim_uninstall), methods=["POST"]),
            Route("/_sim/token_lifetime", ctl(self._sim_token_lifetime), methods=["POST"]),
            Route("/_sim/rate_limit", ctl(self._sim_rate_limit), methods=["POST"]),
            Route("/_sim/webhooks/{id:int}/delete", ctl(self._sim_hook_delete), methods=["POST"]),
            Route("/_sim/webhooks/{id:int}/ban", ctl(self._sim_hook_ban), methods=["POST"]),
            Route("/_sim/idle", ctl(self._sim_idle), methods=["POST", "GET"]),
            Route(controls.PATH, self._sim_controls_page, methods=["GET"]),
            Route(controls.PATH, self._sim_controls_action, methods=["POST"]),
        ]

    # ------------------------------------------------------------------ control routes

    async def _sim_state(self, request: Request) -> Response:
        cid = request.query_params.get("company_id")
        company_id = int_param(cid, "company_id", 0)
        return JSONResponse(self.pyapi.state(company_id or None))

    async def _sim_person_add(self, request: Request) -> Response:
        body = await json_body(request)
        p = self.people.records.create(
            body.get("company_id"), body, "app", body.get("user_id"), strict=False
        )
        return JSONResponse(p, status_code=201)

    async def _sim_person_patch(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(
            self.people.records.update(
                int(request.path_params["id"]), body, "app", body.get("user_id"), strict=False
            )
        )

    async def _sim_person_delete(self, request: Request) -> Response:
        self.people.records.delete(int(request.path_params["id"]), "app", None)
        return JSONResponse({"success": True})

    async def _sim_person_merge(self, request: Request) -> Response:
        body = await json_body(request)
        into = int_param(body.get("into"), "into", 0)
        return JSONResponse(
            self.people.merge(int(request.path_params["id"]), into, "app", body.get("user_id"))
        )

    async def _sim_company_add(self, request: Request) -> Response:
        """A company with one admin user (benchmarks with many companies)."""
        body = await json_body(request)
        cid = int_param(body.get("company_id"), "company_id", 0)
        admin = int_param(body.get("admin_id"), "admin_id", 0)
        name = str(body.get("name") or f"Company {cid}")
        domain = f"c{cid}"
        with self.core.lock:
            if cid < 1 or admin < 1 or cid in self.core.companies or admin in self.core.users:
                raise fail(400, "company_id and admin_id must be new positive ids")
            self.core.add_company(
                cid, name, domain, [(admin, "Admin", f"admin@{domain}.test", True)], []
            )
        return JSONResponse({"company_id": cid, "admin_id": admin}, status_code=201)

    async def _sim_bulk(self, request: Request) -> Response:
        body = await json_body(request)
        count = int_param(body.get("count"), "count", 0)
        if count < 1 or count > 100_000:
            raise fail(400, "count must be 1..100000")
        ids = self.people.bulk(
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
        d = self.orgs_deals.records.create(
            body.get("company_id"), body, "app", body.get("user_id"), strict=False
        )
        return JSONResponse(d, status_code=201)

    async def _sim_deal_patch(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(
            self.orgs_deals.records.update(
                int(request.path_params["id"]), body, "app", body.get("user_id"), strict=False
            )
        )

    async def _sim_deal_delete(self, request: Request) -> Response:
        self.orgs_deals.records.delete(int(request.path_params["id"]), "app", None)
        return JSONResponse({"success": True})

    async def _sim_org_add(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(
            self.orgs_deals.create_org(body.get("company_id"), body), status_code=201
        )

    async def _sim_org_patch(self, request: Request) -> Response:
        body = await json_body(request)
        return JSONResponse(self.orgs_deals.update_org(int(request.path_params["id"]), body))

    async def _sim_controls_page(self, request: Request) -> Response:
        with self.core.lock:
            users = [
                {
                    "id": u["id"],
                    "name": u["name"],
                    "company": self.core.companies[u["company_id"]]["name"],
                }
                for u in self.core.users.values()
            ]
        context = {
            "service": "Pipedrive",
            "color": "#1a1c24",
            "faults": controls.fault_state(self.core.faults),
            "users": users,
            "rate_limit": self.core.rate_limit,
            "message": request.query_params.get("msg"),
            "error": request.query_params.get("error"),
        }
        return TEMPLATES.TemplateResponse(request, "pipedrive/controls.html", context)

    async def _sim_controls_action(self, request: Request) -> Response:
        form = await request.form()
        action = str(form.get("action") or "")

        def act() -> str:
            said = controls.common_action(self.core.faults, action, form, "/api/")
            if said is not None:
                return said
            if action == "revoke_user":
                user_id = int(controls.number(form, "user_id", 1, 2**31))
                self.pyapi.revoke_user(user_id)
                return f"User {user_id}'s authorization revoked: the app's tokens are refused."
            if action == "expire_tokens":
                self.pyapi.expire_tokens()
                return "Every access token expired: the app must refresh them."
            if action == "per_2s":
                self.core.rate_limit = int(controls.number(form, "per_2s", 1, 1000))
                return f"Pipedrive now allows {self.core.rate_limit} requests per 2 seconds."
            raise controls.ControlError(f"unknown control {action!r}")

        return controls.run(act)

    async def _sim_faults(self, request: Request) -> Response:
        self.core.faults.add(await json_body(request))
        return JSONResponse({"ok": True, "scripted": len(self.core.faults.scripted)})

    async def _sim_latency(self, request: Request) -> Response:
        self.core.faults.latency_ms = float((await json_body(request)).get("ms", 0))
        return JSONResponse({"ok": True})

    async def _sim_down(self, request: Request) -> Response:
        self.core.faults.down = bool((await json_body(request)).get("down", True))
        return JSONResponse({"ok": True})

    async def _sim_reset_faults(self, request: Request) -> Response:
        self.core.faults.clear()
        return JSONResponse({"ok": True})

    async def _sim_expire(self, request: Request) -> Response:
        self.pyapi.expire_tokens()
        return JSONResponse({"ok": True})

    async def _sim_revoke(self, request: Request) -> Response:
        body = await json_body(request)
        self.pyapi.revoke_user(int_param(body.get("user_id"), "user_id", 0))
        return JSONResponse({"ok": True})

    async def _sim_user_patch(self, request: Request) -> Response:
        """An admin promotes or demotes a user: `{"is_admin": bool}` (admin of the CRM), or
        sets the rights per app `{"access": [{"app": "campaigns", "admin": true}, …]}`;
        `"access": null` answers `users/me` in the pre-2022 schema (`is_admin`, no `access`)."""
        body = await json_body(request)
        with self.core.lock:
            user = self.core.users.get(int(request.path_params["id"]))
            if user is None:
                raise fail(404, "User not found")
            if "is_admin" in body:
                user["is_admin"] = bool(body["is_admin"])
                user.pop("access", None)
            if "access" in body:
                user["access"] = access_list(body["access"])
                if user["access"] is not None:
                    user["is_admin"] = any(
                        a["admin"] and a["app"] in ADMIN_APPS for a in user["access"]
                    )
            return JSONResponse(dict(user))

    async def _sim_company_patch(self, request: Request) -> Response:
        """The company's domain changes: `{"api_domain": "https://new.pipedrive.com",
        "domain": "new"}`. Token answers name the new api_domain from then on; the API answers
        a company's tokens only at its current api_domain."""
        body = await json_body(request)
        with self.core.lock:
            company = self.core.companies.get(int(request.path_params["id"]))
            if company is None:
                raise fail(404, "Company not found")
            if "api_domain" in body:
                if not isinstance(body["api_domain"], str) or not body["api_domain"]:
                    raise fail(400, "api_domain must be an origin")
                company["api_domain"] = body["api_domain"].rstrip("/")
            if "domain" in body:
                company["domain"] = str(body["domain"])
            return JSONResponse(dict(company))

    async def _sim_uninstall(self, request: Request) -> Response:
        """The user removes the app in Pipedrive: tokens die, webhooks go, callback gets DELETE."""
        body = await json_body(request)
        uid = int_param(body.get("user_id"), "user_id", 0)
        with self.core.lock:
            user = self.core.users.get(uid)
            if user is None:
                raise fail(404, "User not found")
            self.pyapi.revoke_user(uid)
            self.hooks.uninstall_user(user["company_id"], uid)
            callback = self.core.registered_redirect_uri
        if callback:
            payload = {
                "client_id": self.core.client_id,
                "company_id": user["company_id"],
                "user_id": uid,
                "timestamp": rfc3339(utcnow()),
            }
            cred = base64.b64encode(
                f"{self.core.client_id}:{self.core.client_secret}".encode()
            ).decode()
            with self.core.lock:
                job_id = next(self.core.job_ids)
                self.core.jobs[job_id] = None

            async def send() -> None:
                try:
                    await self.delivery.http().request(
                        "DELETE",
                        callback,
                        json=payload,
                        timeout=self.core.delivery_timeout,
                        headers={"authorization": f"Basic {cred}"},
                    )
                except httpx.HTTPError:
                    pass
                finally:
                    with self.core.lock:
                        self.core.jobs.pop(job_id, None)

            self.delivery.launch(send)
        return JSONResponse({"ok": True, "callback": callback})

    async def _sim_token_lifetime(self, request: Request) -> Response:
        seconds = (await json_body(request)).get("seconds")
        self.pyapi.set_token_lifetime(None if seconds is None else float(seconds))
        return JSONResponse({"ok": True})

    async def _sim_rate_limit(self, request: Request) -> Response:
        self.core.rate_limit = int_param((await json_body(request)).get("per_2s"), "per_2s", 80)
        return JSONResponse({"ok": True})

    async def _sim_hook_delete(self, request: Request) -> Response:
        if not self.pyapi.delete_webhook(int(request.path_params["id"])):
            raise fail(404, "Webhook not found")
        return JSONResponse({"ok": True})

    async def _sim_hook_ban(self, request: Request) -> Response:
        if not self.pyapi.ban_webhook(int(request.path_params["id"])):
            raise fail(404, "Webhook not found")
        return JSONResponse({"ok": True})

    async def _sim_idle(self, request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "10"))
        except ValueError:
            raise fail(400, "timeout must be a number") from None
        return JSONResponse({"idle": await self.delivery.wait_idle_async(min(timeout, 600.0))})


def access_list(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
        isinstance(a, dict) and isinstance(a.get("app"), str) for a in raw
    ):
        raise fail(400, "access must be a list of {app, admin}")
    return [
        {
            "app": a["app"],
            "admin": bool(a.get("admin")),
            "permission_set_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{a['app']}{a.get('admin')}")),
        }
        for a in raw
    ]
