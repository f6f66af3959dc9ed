"""Simulated mailings (F15): sendouts, what recipients do with them, and the per-contact reports.

A test or the UI sends a mailing to contacts, then acts as a recipient (open, click, hard or soft
bounce, unsubscribe). `/reports/{recipients,opens,clicks,bounces,blocks}` answer as documented:
`from_date` inclusive and `to_date` exclusive (ms), multivalued `ids`/`emails`/`eids`/`mailing_id`,
`page_index`/`page_size` (1..1000) with `X-Pages`/`X-Items`. Opens and clicks are tied to a contact
only with DOI+ (permission 5) and not after the contact was anonymized; other rows are anonymous
and left out unless `exclude_anonymous_opens|clicks=false`. A bounce fires the `bounce` webhook;
`bounce_policy_hard` consecutive permanent bounces block the contact (a `blocks` row).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode
from xml.etree.ElementTree import Element, SubElement  # building only

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.digits import ascii_int
from sandbox.maileon.contacts import ContactRoutes
from sandbox.maileon.core import SimCore
from sandbox.maileon.gate import acc_of
from sandbox.maileon.model import DEFAULT_ACCOUNT, Account, ApiError, Contact, fmt_ts, now_ms
from sandbox.maileon.params import paged_headers, paging, read_json
from sandbox.maileon.report_filters import ReportFilter
from sandbox.maileon.webhooks import WebhookRoutes
from sandbox.maileon.xmlio import sub, xml_response

KINDS = {  # report path -> (event kind, root element, row element)
    "recipients": ("recipient", "recipients", "recipient"),
    "opens": ("open", "opens", "open"),
    "clicks": ("click", "clicks", "click"),
    "bounces": ("bounce", "bounces", "bounce"),
    "blocks": ("block", "blocks", "block"),
}
ROW_FIELDS = {
    "recipient": ("mailing_id", "timestamp", "transaction_id", "msg_id"),
    "open": ("mailing_id", "timestamp", "msg_id", "format", "device_type"),
    "click": (
        "mailing_id",
        "timestamp",
        "link_id",
        "link_type",
        "link_url",
        "msg_id",
        "format",
        "device_type",
    ),
    "bounce": ("mailing_id", "timestamp", "type", "status_code", "source", "msg_id"),
    "block": ("timestamp", "old_status", "new_status", "reason"),
}
ACTIONS = ("open", "click", "hard_bounce", "soft_bounce", "unsubscribe")
MAILING_TYPES = ("regular", "trigger")


class MailingRoutes:
    """Mailing endpoints, engagement reports, and the controls that act as a recipient."""

    def __init__(self, contacts: ContactRoutes, webhooks: WebhookRoutes, core: SimCore) -> None:
        self.contacts = contacts
        self.webhooks = webhooks
        self.core = core
        self.bounce_policy_hard = 3  # Maileon's CSA default: 3 consecutive hard bounces

    def routes(self) -> list[BaseRoute]:
        """Routes under `/1.0`."""
        out: list[BaseRoute] = [
            Route("/mailings/{mailing_id}/name", self.mailing_name, methods=["GET"]),
            Route("/mailings/{mailing_id}/type", self.mailing_type, methods=["GET"]),
            Route("/mailings/{mailing_id}/contents/subject", self.mailing_subject, methods=["GET"]),
            Route("/mailings/{mailing_id}", self.mailing_delete, methods=["DELETE"]),
        ]
        for path in KINDS:
            out.append(Route(f"/reports/{path}", self.report, methods=["GET"]))
            out.append(Route(f"/reports/{path}/count", self.report_count, methods=["GET"]))
        return out

    def control_routes(self) -> list[BaseRoute]:
        """`/_sim/` controls and the UI page."""
        return [
            Route("/_sim/mailings", self.sim_send, methods=["POST"]),
            Route("/_sim/mailings/{mailing_id}/act", self.sim_act, methods=["POST"]),
            Route("/_sim/bounce_policy", self.sim_bounce_policy, methods=["POST"]),
            Route("/mailings", self.ui_page, methods=["GET"]),
            Route("/ui/mailings/send", self.ui_send, methods=["POST"]),
            Route("/ui/mailings/act", self.ui_act, methods=["POST"]),
        ]

    # -- sending and acting ---------------------------------------------------------------------

    def send(
        self, acc: Account, name: str, kind: str, subject: str, contacts: list[Contact]
    ) -> dict[str, Any]:
        """Sends a mailing: a `recipient` row per contact that may receive it."""
        if kind not in MAILING_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(MAILING_TYPES)}")
        if not name.strip():
            raise ApiError(400, "a mailing needs a name")
        mid = self.core.next_id("mailing")
        acc.mailings[mid] = {"id": mid, "name": name, "type": kind, "subject": subject or name}
        sent, skipped = [], []
        for c in contacts:
            may = not c.anonymized and not c.unsubscribed and not c.bounce_blocked
            if kind == "regular":
                may = may and c.permission != 1
            if not may:
                skipped.append(c.id)
                continue
            self.event(acc, "recipient", c, mid, msg_id=str(secrets.randbelow(10**9)))
            sent.append(c.id)
        acc.mailings[mid]["sent"] = sent
        return {"mailing_id": mid, "sent": sent, "skipped": skipped}

    def event(
        self, acc: Account, kind: str, c: Contact, mailing_id: int | None, **data: Any
    ) -> dict[str, Any]:
        ts = now_ms()
        record = {
            "id": self.core.next_id("event"),
            "kind": kind,
            "timestamp": ts,
            "time": fmt_ts(ts),
            "contact_id": c.id,
            "email": c.email,
            "external_id": c.external_id,
            "mailing_id": mailing_id,
            "tracked": c.permission == 5,
            **data,
        }
        acc.events.append(record)
        return record

    def act(
        self, acc: Account, mailing_id: int, c: Contact, action: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """The recipient `c` does `action` with the mailing."""
        sent = next(
            (
                e
                for e in acc.events
                if e["kind"] == "recipient"
                and e["mailing_id"] == mailing_id
                and e["contact_id"] == c.id
            ),
            None,
        )
        if sent is None:
            raise ApiError(404, "this contact did not receive that mailing")
        msg_id = sent["msg_id"]
        if action == "open":
            c.hard_bounces = 0
            return self.event(
                acc, "open", c, mailing_id, msg_id=msg_id, format="html", device_type="COMPUTER"
            )
        if action == "click":
            c.hard_bounces = 0
            url = str(data.get("link_url") or "https://example.com/offer")
            return self.event(
                acc,
                "click",
                c,
                mailing_id,
                msg_id=msg_id,
                link_id=abs(hash(url)) % 10_000,
                link_type="STANDARD",
                link_url=url,
                format="html",
                device_type="COMPUTER",
            )
        if action in ("hard_bounce", "soft_bounce"):
            return self.bounce(acc, c, mailing_id, msg_id, action == "hard_bounce", data)
        if action == "unsubscribe":
            reasons = [str(data["reason"])] if data.get("reason") else []
            return self.contacts.unsubscribe(acc, c, "link", str(mailing_id), reasons, fire=True)
        raise ApiError(400, f"action must be one of {', '.join(ACTIONS)}")

    def bounce(
        self,
        acc: Account,
        c: Contact,
        mailing_id: int,
        msg_id: str,
        hard: bool,
        data: dict[str, Any],
    ) -> dict[str, Any]:
        code = str(data.get("status_code") or ("5.1.1" if hard else "4.2.2"))
        snap = c.snapshot()
        record = self.event(
            acc,
            "bounce",
            c,
            mailing_id,
            msg_id=msg_id,
            type="permanent" if hard else "transient",
            status_code=code,
            source="mta-listener",
        )
        event_data = {
            "timestamp": record["time"],
            "msg_id": msg_id,
            "mailing_id": mailing_id,
            "type": record["type"],
            "status_code": code,
        }
        self.webhooks.fire(acc, "bounce", snap, event_data)
        if hard:
            c.hard_bounces += 1
            if c.hard_bounces >= self.bounce_policy_hard and not c.bounce_blocked:
                c.bounce_blocked = True
                c.note("blocked", reason="bounce_policy")
                self.event(
                    acc,
                    "block",
                    c,
                    None,
                    old_status="allowed",
                    new_status="blocked",
                    reason="bounce_policy",
                )
        return record

    # -- reports -------------------------------------------------------------------------------

    def rows(self, request: Request) -> list[dict[str, Any]]:
        """The events a report lists, oldest first, each marked anonymous or not."""
        kind = KINDS[request.url.path.removesuffix("/count").rsplit("/", 1)[1]][0]
        acc = acc_of(request)
        wanted = ReportFilter.of(request, kind)
        out = []
        for e in acc.events:
            if not wanted.keeps_event(e):
                continue
            anonymous = self.anonymous(acc, e)
            if wanted.keeps(e, anonymous):
                out.append({**e, "anonymous": anonymous})
        return sorted(out, key=lambda e: (e["timestamp"], e["id"]))

    @staticmethod
    def anonymous(acc: Account, e: dict[str, Any]) -> bool:
        """Opens and clicks are tied to a contact only with DOI+ and until it is anonymized."""
        if e["kind"] not in ("open", "click"):
            return False
        c = acc.contacts.get(e["contact_id"])
        return not e["tracked"] or c is None or c.anonymized

    async def report(self, request: Request) -> Response:
        index, size = paging(request)
        path = request.url.path.rsplit("/", 1)[1]
        kind, root_tag, row_tag = KINDS[path]
        items = self.rows(request)
        root = Element(root_tag)
        for e in items[(index - 1) * size : index * size]:
            el = SubElement(root, row_tag)
            if not e["anonymous"]:
                contact = SubElement(el, "contact")
                sub(contact, "id", e["contact_id"])
                sub(contact, "email", e["email"])
                sub(contact, "external_id", e["external_id"])
            for name in ROW_FIELDS[kind]:
                value = e["time"] if name == "timestamp" else e.get(name)
                if value is not None:
                    sub(el, name, value)
        response = xml_response(root)
        paged_headers(request, response, index, size, len(items))
        return response

    async def report_count(self, request: Request) -> Response:
        root = Element("count")
        root.text = str(len(self.rows(request)))
        return xml_response(root)

    # -- mailing details -------------------------------------------------------------------------

    def mailing_of(self, request: Request) -> dict[str, Any]:
        raw = request.path_params["mailing_id"]
        number = ascii_int(raw)
        mailing = None if number is None else acc_of(request).mailings.get(number)
        if mailing is None:
            raise ApiError(404, "mailing not found")
        return mailing

    def text(self, tag: str, value: str) -> Response:
        root = Element(tag)
        root.text = value
        return xml_response(root)

    async def mailing_name(self, request: Request) -> Response:
        return self.text("name", self.mailing_of(request)["name"])

    async def mailing_type(self, request: Request) -> Response:
        return self.text("type", self.mailing_of(request)["type"])

    async def mailing_subject(self, request: Request) -> Response:
        return self.text("subject", self.mailing_of(request)["subject"])

    async def mailing_delete(self, request: Request) -> Response:
        """A deleted mailing is gone from `/mailings/{id}/…`; the report rows that name it stay
        (what the app must skip with a warning: a mailing Maileon no longer knows)."""
        mailing = self.mailing_of(request)
        del acc_of(request).mailings[mailing["id"]]
        return Response(status_code=200)

    # -- controls --------------------------------------------------------------------------------

    def account(self, name: Any) -> Account:
        acc = self.core.accounts.get(str(name or DEFAULT_ACCOUNT))
        if acc is None:
            raise ApiError(404, f"unknown account {name}")
        return acc

    @staticmethod
    def contact(acc: Account, ref: Any) -> Contact:
        number = ascii_int(ref)
        c = acc.by_email(str(ref)) if number is None else acc.by_id(number)
        if c is None:
            raise ApiError(404, f"contact {ref} not found")
        return c

    async def sim_send(self, request: Request) -> Response:
        data = await read_json(request)
        if not isinstance(data, dict) or not isinstance(data.get("contacts"), list):
            raise ApiError(400, "send {name, type, contacts: [id or email, ...]}")
        acc = self.account(data.get("account"))
        contacts = [self.contact(acc, ref) for ref in data["contacts"]]
        result = self.send(
            acc,
            str(data.get("name") or ""),
            str(data.get("type") or "regular"),
            str(data.get("subject") or ""),
            contacts,
        )
        return JSONResponse(result, status_code=201)

    async def sim_act(self, request: Request) -> Response:
        data = await read_json(request)
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        acc = self.account(data.get("account"))
        mailing_id = ascii_int(request.path_params["mailing_id"])
        if mailing_id is None or mailing_id not in acc.mailings:
            raise ApiError(404, "mailing not found")
        c = self.contact(acc, data.get("contact"))
        record = self.act(acc, mailing_id, c, str(data.get("action")), data)
        if data.get("at_ms") is not None:  # an event of an earlier day (tests, the demo)
            at = data["at_ms"]
            if not isinstance(at, int) or isinstance(at, bool) or not 0 < at <= now_ms():
                raise ApiError(400, "at_ms must be a past time in ms")
            record["timestamp"], record["time"] = at, fmt_ts(at)
        return JSONResponse({"ok": True, "event": record})

    async def sim_bounce_policy(self, request: Request) -> Response:
        data = await read_json(request)
        hard = data.get("hard") if isinstance(data, dict) else None
        if not isinstance(hard, int) or not 1 <= hard <= 10:
            raise ApiError(400, "hard must be 1..10")
        self.bounce_policy_hard = hard
        return JSONResponse({"ok": True, "hard": hard})

    # -- UI --------------------------------------------------------------------------------------

    async def ui_page(self, request: Request) -> Response:
        acc = self.core.accounts.get(request.query_params.get("account") or DEFAULT_ACCOUNT)
        acc = acc or self.core.accounts[DEFAULT_ACCOUNT]
        mailings = []
        for m in sorted(acc.mailings.values(), key=lambda m: -m["id"]):
            events = [e for e in acc.events if e["mailing_id"] == m["id"]]
            recipients = []
            for r in (e for e in events if e["kind"] == "recipient"):
                mine = [
                    e
                    for e in events
                    if e["contact_id"] == r["contact_id"] and e["kind"] != "recipient"
                ]
                recipients.append(
                    {
                        **r,
                        "did": ", ".join(
                            e["kind"] + (f" {e['type']}" if e["kind"] == "bounce" else "")
                            for e in mine
                        ),
                    }
                )
            mailings.append({**m, "recipients": recipients})
        contacts = [c for c in acc.live() if c.email]
        context = {
            "account": acc,
            "mailings": mailings,
            "contacts": contacts,
            "message": request.query_params.get("msg"),
            "policy": self.bounce_policy_hard,
        }
        return self.core.templates.TemplateResponse(request, "maileon/mailings.html", context)

    def back(self, account: str, msg: str) -> Response:
        return RedirectResponse(
            f"/mailings?{urlencode({'account': account, 'msg': msg})}", status_code=303
        )

    async def ui_send(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("account") or DEFAULT_ACCOUNT)
        try:
            acc = self.account(name)
            refs = [str(v) for v in form.getlist("contact_id")]
            result = self.send(
                acc,
                str(form.get("name") or ""),
                str(form.get("type") or "regular"),
                "",
                [self.contact(acc, r) for r in refs],
            )
            msg = f"Mailing {result['mailing_id']} sent to {len(result['sent'])} contact(s)"
            if result["skipped"]:
                msg += (
                    f", {len(result['skipped'])} skipped (no permission, unsubscribed or blocked)"
                )
        except ApiError as exc:
            msg = exc.message
        return self.back(name, msg)

    async def ui_act(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("account") or DEFAULT_ACCOUNT)
        try:
            acc = self.account(name)
            raw = str(form.get("mailing_id") or "")
            mailing_id = ascii_int(raw)
            if mailing_id is None or mailing_id not in acc.mailings:
                raise ApiError(404, "mailing not found")
            c = self.contact(acc, form.get("contact_id"))
            action = str(form.get("action"))
            email = c.email
            self.act(acc, mailing_id, c, action, {"link_url": form.get("link_url")})
            msg = f"{email}: {action.replace('_', ' ')} in mailing {raw}"
        except ApiError as exc:
            msg = exc.message
        return self.back(name, msg)
