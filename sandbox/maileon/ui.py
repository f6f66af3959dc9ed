"""The small web UI at `/`."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.digits import ascii_int
from sandbox.favicon import favicon_route
from sandbox.maileon.contacts import ContactRoutes
from sandbox.maileon.control import ControlRoutes
from sandbox.maileon.core import SimCore
from sandbox.maileon.model import DEFAULT_ACCOUNT, ApiError
from sandbox.maileon.params import mask_url, param_display


class UiRoutes:
    """The UI pages and form actions."""

    def __init__(self, contacts: ContactRoutes, control: ControlRoutes, core: SimCore) -> None:
        self.contacts = contacts
        self.control = control
        self.core = core

    def routes(self) -> list[BaseRoute]:
        """The UI page, its form actions and the favicon."""
        return [
            Route("/", self.ui_index, methods=["GET"]),
            favicon_route("M", "#1e5bb8"),
            Route("/ui/{action}", self.ui_action, methods=["POST"]),
        ]

    # -- UI ---------------------------------------------------------------------------------

    async def ui_index(self, request: Request) -> Response:
        name = request.query_params.get("account") or DEFAULT_ACCOUNT
        acc = self.core.accounts.get(name) or self.core.accounts[DEFAULT_ACCOUNT]
        types = {t.id: t for t in acc.transaction_types.values()}
        contacts = sorted(acc.contacts.values(), key=lambda c: c.id)
        context = {
            "accounts": sorted(self.core.accounts),
            "account": acc,
            "contacts": [c.to_json() for c in contacts],
            "transactions": list(reversed(acc.transactions[-200:])),
            "custom_fields": acc.custom_fields,
            "types": [t.to_json() for t in types.values()],
            "webhooks": [
                {
                    **h,
                    "masked_url": mask_url(h["url"]),
                    "params_display": [param_display(p) for p in h["urlParams"]],
                }
                for h in acc.webhooks.values()
            ],
            "deliveries": [
                {**d, "masked_url": mask_url(d["url"])} for d in reversed(acc.deliveries[-100:])
            ],
            "unsubscriptions": list(reversed(acc.unsubscriptions[-200:])),
            "doi_keys": sorted(acc.doi_keys),
            "message": request.query_params.get("msg"),
        }
        return self.core.templates.TemplateResponse(request, "maileon/index.html", context)

    async def ui_action(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("account") or DEFAULT_ACCOUNT)
        action = request.path_params["action"]
        msg = ""
        try:
            acc = self.control.control_account(name)
            raw_id = str(form.get("contact_id") or "")
            number = ascii_int(raw_id)
            c = None if number is None else acc.by_id(number)
            if c is None:
                raise ApiError(404, "contact not found")
            if action == "confirm_doi":
                if not c.doi_pending:
                    raise ApiError(409, "no pending DOI")
                self.contacts.confirm_doi(acc, c)
                msg = f"DOI confirmed for {c.email}"
            elif action == "unsubscribe":
                email = c.email
                self.contacts.unsubscribe(acc, c, "link", None, [], fire=True)
                msg = f"{email} unsubscribed"
            else:
                raise ApiError(404, "unknown action")
        except ApiError as exc:
            msg = exc.message
        query = urlencode({"account": name, "msg": msg})
        return RedirectResponse(f"/?{query}", status_code=303)
