"""Simulated Maileon: the REST API 1.0 subset the app uses, outgoing webhooks, a control surface
and a small web UI, served on loopback.

    sim = MaileonSim(time_scale=0.01)
    server = ServerThread(sim.app).start()
    api_url = f"{server.url}/1.0"          # the app's MAILEON_API_URL

Layout: REST API under `/1.0` (HTTP Basic with an API key), control JSON under `/_sim/` (no auth,
exempt from fault injection), UI at `/`. Every API key belongs to an account; contacts, fields,
transaction types, transactions and webhooks are per account.

Behaviour follows the project's Maileon API reference (reference/maileon-api.md). Where
Maileon's behaviour is not documented (UNCONFIRMED there), the simulator makes these choices:

* Create contact (`POST /contacts/email/{email}`): new → 201 `<id>N</id>`; existing with
  `sync_mode=2` → 200 `<id>N</id>` and nothing changes; existing with `sync_mode=1` → 201.
  On an existing contact with `sync_mode=1` the permission given (or, pessimistically, the
  documented default 1 when none is given: UNCONFIRMED) replaces the contact's own, unless the
  contact has DOI/DOI+ and a lower one is asked (reference §2.1, §2.2). `PUT` without a
  permission leaves it. An `email` in the body that differs from the path → 400.
* Control: `POST /_sim/contacts` creates a contact as if it had been in the account before
  the app came (`email`, `permission` 1-6, optional `external_id`, `standard_fields`,
  `custom_fields`, `created_by` for the history).
* Unsubscribed addresses are kept on a suppression list (the contact itself is anonymized).
  Creating the address again is an explicit re-subscription only with `permission` > 1 or
  `doi=true`; otherwise the new contact is flagged unsubscribed (PERMISSION_STATUS=unsubscribed).
  Re-subscriptions are recorded in the contact's `history` ("resubscribed").
* Custom field values: booleans only `true`/`false` (JSON booleans or those strings; `1`/`0` → 400);
  JSON `null` → 400, `""` clears.
* Delete by email / external id: 200 even if nothing matched. Unsubscribe of an unknown
  email / external id → 404.
* Anonymized contacts are invisible to every REST read (by email, external id, lists, count).
* Synchronize (`POST /contacts`): invalid contacts without `ignore_invalid_contacts=true` → 400 with
  the report and nothing applied; otherwise 200 with the report (`success` false when any contact
  was invalid) and the valid ones applied. Unsubscribed contacts that are skipped are counted in
  `count_unsubscribed_contacts` only. Error code 21 = invalid/unknown custom field, 22 = unknown or
  read-only standard field (codes 21+ are undocumented; invented here).
* Custom field create with an existing name → 409.
* Transaction type create → 201 with the plain new id as text body (`text/plain`); duplicate name
  → 409. Attribute value checks: integer (int or integer string, 32 bit), double/float (number or
  numeric string), boolean (bool or "true"/"false"), string (string or number, ≤ 1000 chars;
  64000 with storeOnly), date `yyyy-mm-dd`, timestamp `yyyy-mm-dd hh:mm:ss`, json (anything);
  `null` counts as absent.
* `POST /transactions` with `ignore_invalid_transactions=false` and an invalid item → 400 with the
  JSON reports and nothing stored.
* Error bodies are XML `<error><message>…</message></error>` on every endpoint (also JSON ones).
* Outgoing webhooks: POST, 5 s timeout, retried twice after 5 s and 60 s (times time_scale) when the
  answer is not 2xx or the call fails (the real retry policy is undocumented: a guess). A `+` in a
  `standard_contact_field` URL parameter value is left unencoded (Maileon's quirk: receivers decode
  it as a space); `custom_value` literals are fully percent-encoded. Event fields: `timestamp`,
  `msg_id` (random for link/DOI events, null for API unsubscriptions), `method`/`source` (the
  unsubscription source or "link" for DOI), `mailing_id`, `reason`; others null.
* DOI mailings: every DOI key of the account (`/_sim/doi_keys`) is one DOI mailing;
  `GET /mailings/filter/types?types=doi` lists `<mailings><mailing><id>` (paged),
  `GET /mailings/{id}/settings/doi_key` answers `<doi_key>` (reference §5).
* Times are UTC (`yyyy-mm-dd hh:mm:ss`); the report filters `from_date`/`to_date` are epoch ms.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import math
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from xml.etree.ElementTree import Element, SubElement, tostring  # building only

import defusedxml.ElementTree as SafeET
import httpx
import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.faults import FaultMiddleware, Faults
from sandbox.favicon import favicon_route

XML_TYPE = "application/vnd.maileon.api+xml"
DEFAULT_KEY = "demo-maileon-key-0001"
DEFAULT_ACCOUNT = "demo"
DEFAULT_DOI_KEY = "doi-key-1"
ALL_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})
MAX_TX_BODY = 9_000_000
RETRY_DELAYS = (5.0, 60.0)
WEBHOOK_TIMEOUT = 5.0
REQUEST_LOG = 20000

PERMISSION_NAMES = {1: "NONE", 2: "SOI", 3: "COI", 4: "DOI", 5: "DOI+", 6: "OTHER"}
STANDARD_FIELDS = (
    "ADDRESS", "BIRTHDAY", "CITY", "COUNTRY", "FIRSTNAME", "FULLNAME", "GENDER", "HNR", "LASTNAME",
    "LOCALE", "NAMEDAY", "ORGANIZATION", "REGION", "SALUTATION", "STATE", "TITLE", "ZIP",
)
READONLY_STANDARD = ("PERMISSION_STATUS", "SENDOUT_STATUS", "CUSTOM_SOURCE", "CHECKSUM")
# synchronize error codes 6-20 (dev.maileon.com synchronize-contacts-error-codes)
SYNC_FIELD_CODES = {
    "ADDRESS": 6, "CITY": 7, "FIRSTNAME": 8, "FULLNAME": 9, "HNR": 10, "LASTNAME": 11,
    "ORGANIZATION": 12, "REGION": 13, "STATE": 14, "TITLE": 15, "ZIP": 16, "BIRTHDAY": 17,
    "NAMEDAY": 18, "GENDER": 19, "LOCALE": 20,
}
RESERVED_CUSTOM = {
    "id", "created", "external_id", "local_part", "permission_type", "permission_status",
    "sendout_status", "updated", "email",
}
CUSTOM_TYPES = ("string", "integer", "float", "date", "boolean")
ATTR_TYPES = ("string", "double", "float", "integer", "boolean", "timestamp", "date", "json")
WEBHOOK_EVENTS = ("doi", "unsubscription", "bounce", "filtered", "contact_field_change")
SECRET_PARAM = re.compile(r"token|secret|password|passwd|signature|apikey|api_key", re.I)

EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
INT_RE = re.compile(r"^[+-]?\d+$")
TYPE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
INT32 = (-(2**31), 2**31 - 1)


class ApiError(Exception):
    """Answered as `<error><message>…</message></error>` (JSON `{"error": …}` under /_sim/)."""

    def __init__(self, status: int, message: str, body: Response | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


# ---------------------------------------------------------------------------------------------
# model


def now_ms() -> int:
    return int(time.time() * 1000)


def fmt_ts(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def valid_email(email: str) -> bool:
    return len(email) <= 254 and bool(EMAIL_RE.match(email))


def valid_date(value: str, with_time: bool = False) -> bool:
    pattern, fmt = (DATETIME_RE, "%Y-%m-%d %H:%M:%S") if with_time else (DATE_RE, "%Y-%m-%d")
    if not pattern.match(value):
        return False
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


@dataclass
class Contact:
    id: int
    email: str | None
    external_id: str | None = None
    permission: int = 1
    standard_fields: dict[str, str] = field(default_factory=dict)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    created: int = field(default_factory=now_ms)
    updated: int = field(default_factory=now_ms)
    unsubscribed: bool = False
    anonymized: bool = False
    doi_pending: bool = False
    doi_mailing: str | None = None
    doiplus: bool = False
    doi_mailing_unknown: bool = False
    src: str | None = None
    subscription_page: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def note(self, event: str, **data: Any) -> None:
        self.history.append({"time": fmt_ts(now_ms()), "event": event, **data})

    def touch(self) -> None:
        self.updated = now_ms()

    @property
    def permission_status(self) -> str:
        if self.unsubscribed:
            return "unsubscribed"
        return "none" if self.permission == 1 else "available"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id, "email": self.email, "external_id": self.external_id,
            "standard_fields": dict(self.standard_fields),
            "custom_fields": dict(self.custom_fields),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "email": self.email, "external_id": self.external_id,
            "permission": self.permission, "permission_name": PERMISSION_NAMES[self.permission],
            "permission_status": self.permission_status,
            "unsubscribed": self.unsubscribed, "anonymized": self.anonymized,
            "doi_pending": self.doi_pending, "doi_mailing": self.doi_mailing,
            "doiplus": self.doiplus, "doi_mailing_unknown": self.doi_mailing_unknown,
            "src": self.src, "subscription_page": self.subscription_page,
            "standard_fields": dict(self.standard_fields),
            "custom_fields": dict(self.custom_fields),
            "created": fmt_ts(self.created), "updated": fmt_ts(self.updated),
            "history": list(self.history),
        }


@dataclass
class TxAttribute:
    id: int
    name: str
    type: str
    required: bool
    description: str = ""


@dataclass
class TxType:
    id: int
    name: str
    description: str = ""
    archiving_duration: int | None = None
    store_only: bool = False
    attributes: list[TxAttribute] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "description": self.description,
            "archivingDuration": self.archiving_duration, "storeOnly": self.store_only,
            "attributes": [
                {"id": a.id, "name": a.name, "type": a.type, "required": a.required,
                 "description": a.description}
                for a in self.attributes
            ],
        }


@dataclass
class Account:
    name: str
    newsletter_account_id: int
    doi_keys: set[str] = field(default_factory=lambda: {DEFAULT_DOI_KEY})
    contacts: dict[int, Contact] = field(default_factory=dict)
    custom_fields: dict[str, str] = field(default_factory=dict)
    transaction_types: dict[int, TxType] = field(default_factory=dict)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    unsubscriptions: list[dict[str, Any]] = field(default_factory=list)
    doi_confirmations: list[dict[str, Any]] = field(default_factory=list)
    suppressed: set[str] = field(default_factory=set)
    doi_mailing_ids: dict[str, int] = field(default_factory=dict)  # DOI key -> mailing id
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG))
    # lower-case email -> contact id, kept by add/set_email/drop, so lookups stay O(1) for
    # imports of 100k contacts
    emails: dict[str, int] = field(default_factory=dict)

    def live(self) -> Iterable[Contact]:
        return (c for c in self.contacts.values() if not c.anonymized)

    def by_email(self, email: str) -> Contact | None:
        c = self.contacts.get(self.emails.get(email.lower(), -1))
        return c if c is not None and not c.anonymized else None

    def add(self, c: Contact) -> None:
        self.contacts[c.id] = c
        if c.email:
            self.emails[c.email.lower()] = c.id

    def set_email(self, c: Contact, email: str | None) -> None:
        if c.email and self.emails.get(c.email.lower()) == c.id:
            del self.emails[c.email.lower()]
        c.email = email
        if email:
            self.emails[email.lower()] = c.id

    def drop(self, c: Contact) -> None:
        self.set_email(c, None)
        self.contacts.pop(c.id, None)

    def by_external_id(self, external_id: str) -> list[Contact]:
        return [c for c in self.live() if c.external_id == external_id]

    def by_id(self, contact_id: int) -> Contact | None:
        c = self.contacts.get(contact_id)
        return c if c is not None and not c.anonymized else None

    def tx_type(self, ref: str | int) -> TxType | None:
        if isinstance(ref, int) or str(ref).isdigit():
            return self.transaction_types.get(int(ref))
        return next((t for t in self.transaction_types.values() if t.name == ref), None)

    def reset(self) -> None:
        keys = self.doi_keys
        fresh = Account(self.name, self.newsletter_account_id, doi_keys=keys)
        self.__dict__.update(fresh.__dict__)


# ---------------------------------------------------------------------------------------------
# XML helpers


def xml_bytes(root: Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="unicode").encode()


def xml_response(root: Element, status: int = 200,
                 headers: dict[str, str] | None = None) -> Response:
    return Response(xml_bytes(root), status_code=status, media_type=XML_TYPE, headers=headers)


def id_response(value: int, status: int = 201) -> Response:
    return Response(f"<id>{value}</id>", status_code=status, media_type=XML_TYPE)


def error_xml(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    root = Element("error")
    SubElement(root, "message").text = message
    return xml_response(root, status, headers)


def sub(parent: Element, tag: str, value: Any) -> Element:
    el = SubElement(parent, tag)
    if value is None:
        el.set("nil", "true")
    else:
        el.text = xml_text(value)
    return el


def xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def child_text(el: Any, tag: str) -> tuple[bool, str | None]:
    """(present, text) of a child element; `nil="true"` gives (True, None)."""
    child = el.find(tag)
    if child is None:
        return False, None
    if child.get("nil") == "true":
        return True, None
    return True, (child.text or "")


def parse_xml(body: bytes) -> Any:
    try:
        return SafeET.fromstring(body)
    except Exception as exc:  # defusedxml raises ParseError and its own DefusedXmlException
        raise ApiError(400, f"invalid XML: {exc}") from exc


def fields_from_xml(el: Any, tag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    container = el.find(tag)
    if container is None:
        return out
    for f in container.findall("field"):
        name = (f.findtext("name") or "").strip()
        present, value = child_text(f, "value")
        out[name] = value if present else None
    return out


def contact_payload_from_xml(el: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "standard_fields": fields_from_xml(el, "standard_fields"),
        "custom_fields": fields_from_xml(el, "custom_fields"),
    }
    for tag in ("email", "external_id", "permission"):
        present, value = child_text(el, tag)
        if present:
            payload[tag] = value.strip() if isinstance(value, str) else value
    return payload


def contact_xml(parent: Element | None, c: Contact, std_names: list[str] | None = None,
                custom_names: list[str] | None = None) -> Element:
    el = Element("contact") if parent is None else SubElement(parent, "contact")
    sub(el, "id", c.id)
    sub(el, "email", c.email)
    sub(el, "external_id", c.external_id)
    sub(el, "created", fmt_ts(c.created) + ".0")
    sub(el, "updated", fmt_ts(c.updated) + ".0")
    sub(el, "permission", c.permission)
    std = SubElement(el, "standard_fields")
    derived = {
        "PERMISSION_STATUS": c.permission_status,
        "SENDOUT_STATUS": "allowed" if c.permission_status == "available" else "blocked",
        "CUSTOM_SOURCE": c.src,
    }
    for name in std_names if std_names else sorted(c.standard_fields):
        f = SubElement(std, "field")
        sub(f, "name", name)
        sub(f, "value", derived[name] if name in derived else c.standard_fields.get(name))
    cust = SubElement(el, "custom_fields")
    for name in custom_names if custom_names else sorted(c.custom_fields):
        if c.custom_fields.get(name) is None:
            continue  # custom fields without value are omitted
        f = SubElement(cust, "field")
        sub(f, "name", name)
        sub(f, "value", c.custom_fields[name])
    return el


# ---------------------------------------------------------------------------------------------
# value validation


def std_field_error(name: str, value: Any) -> tuple[int, str] | None:
    """(synchronize error code, message) when a standard field value is not acceptable."""
    if name in READONLY_STANDARD:
        return 22, f"standard field {name} is read-only"
    if name not in STANDARD_FIELDS:
        return 22, f"unknown standard field {name}"
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        return SYNC_FIELD_CODES.get(name, 22), f"standard field {name} must be a plain value"
    text = xml_text(value)
    code = SYNC_FIELD_CODES.get(name, 22)
    if len(text) > 255:
        return code, f"value of standard field {name} must not exceed 255 characters"
    if name in ("BIRTHDAY", "NAMEDAY") and not (valid_date(text) or valid_date(text, True)):
        return code, f"value of standard field {name} must match yyyy-mm-dd or yyyy-mm-dd hh:mm:ss"
    if name == "GENDER" and text not in ("m", "f", "d"):
        return code, "value of standard field GENDER must be m, f or d"
    if name == "LOCALE" and not re.match(r"^[a-z]{2}(_[A-Z]{2})?$", text):
        return code, "value of standard field LOCALE must match xx or xx_XX"
    return None


def custom_value(ftype: str, name: str, value: Any) -> Any:
    """The stored (typed) value of custom field `name`, or ApiError(400)."""
    def bad(why: str) -> ApiError:
        return ApiError(400, f"invalid value for custom field {name} ({ftype}): {why}")

    if value is None:
        raise bad("must not be null (use \"\" to clear)")
    if value == "":
        return None
    if isinstance(value, dict | list):
        raise bad("must be a plain value")
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad("allowed values are true and false")
    if ftype == "integer":
        if isinstance(value, bool):
            raise bad("not an integer")
        if isinstance(value, int) or (isinstance(value, str) and INT_RE.match(value.strip())):
            integer = int(value)
            if not INT32[0] <= integer <= INT32[1]:
                raise bad("out of 32-bit range")
            return integer
        raise bad("not an integer")
    if ftype == "float":
        if isinstance(value, bool):
            raise bad("not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("not a number") from None
        if not math.isfinite(number):
            raise bad("not a finite number")
        return number
    if ftype == "date":
        text = str(value).strip()
        if valid_date(text):
            return text
        if valid_date(text, True):
            return text[:10]  # time part accepted but dropped
        raise bad("must match yyyy-MM-dd")
    text = xml_text(value)
    if len(text) > 255:
        raise bad("must not exceed 255 characters")
    return text


def attribute_error(attr: TxAttribute, value: Any, store_only: bool) -> str | None:
    t = attr.type
    if t == "json":
        return None
    if t == "integer":
        if isinstance(value, bool):
            return f"attribute {attr.name} must be an integer"
        if isinstance(value, int) or (isinstance(value, str) and INT_RE.match(value.strip())):
            return None if INT32[0] <= int(value) <= INT32[1] else (
                f"attribute {attr.name} is out of 32-bit range")
        return f"attribute {attr.name} must be an integer"
    if t in ("double", "float"):
        if isinstance(value, bool | dict | list):
            return f"attribute {attr.name} must be a number"
        try:
            float(value)
        except (TypeError, ValueError):
            return f"attribute {attr.name} must be a number"
        return None
    if t == "boolean":
        if isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false")):
            return None
        return f"attribute {attr.name} must be true or false"
    if t == "date":
        ok = isinstance(value, str) and valid_date(value)
        return None if ok else f"attribute {attr.name} must match yyyy-mm-dd"
    if t == "timestamp":
        ok = isinstance(value, str) and valid_date(value, True)
        return None if ok else f"attribute {attr.name} must match yyyy-mm-dd hh:mm:ss"
    # string
    if isinstance(value, bool | dict | list):
        return f"attribute {attr.name} must be a string"
    limit = 64000 if store_only else 1000
    if len(str(value)) > limit:
        return f"attribute {attr.name} must not exceed {limit} characters"
    return None


# ---------------------------------------------------------------------------------------------
# query helpers


def q_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ApiError(400, f"{name} must be true or false but was {raw}")


def q_int(request: Request, name: str, default: int | None, lo: int | None = None,
          hi: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not INT_RE.match(raw):
        raise ApiError(400, f"{name} must be an integer but was {raw}")
    value = int(raw)
    if lo is not None and value < lo:
        raise ApiError(400, f"{name} must be at least {lo} but was {value}")
    if hi is not None and value > hi:
        raise ApiError(400, f"{name} must not exceed {hi} but was {value}")
    return value


def q_permission(request: Request) -> int | None:
    return q_int(request, "permission", None, 1, 6)


def paging(request: Request, default_size: int = 100) -> tuple[int, int]:
    index = q_int(request, "page_index", 1, 1)
    size = q_int(request, "page_size", default_size, 1, 1000)
    assert index is not None and size is not None
    return index, size


def paged_headers(request: Request, response: Response, index: int, size: int, total: int) -> None:
    pages = math.ceil(total / size)
    response.headers["X-Pages"] = str(pages)
    response.headers["X-Items"] = str(total)
    base = str(request.url.replace(query=""))
    other = [(k, v) for k, v in request.query_params.multi_items()
             if k not in ("page_index", "page_size")]

    def link(i: int, rel: str) -> tuple[bytes, bytes]:
        query = urlencode([*other, ("page_index", i), ("page_size", size)])
        return b"link", f'<{base}?{query}>; rel="{rel}"'.encode()

    if index < pages:
        response.raw_headers.append(link(index + 1, "next"))
    if index > 1:
        response.raw_headers.append(link(index - 1, "prev"))
    response.raw_headers.append(link(1, "start"))


def mask_url(url: str) -> str:
    """The URL with values of token/secret-like query parameters replaced by ***."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    masked = []
    for pair in parts.query.split("&"):
        name, sep, _value = pair.partition("=")
        masked.append(f"{name}=***" if sep and SECRET_PARAM.search(name) else pair)
    return parts._replace(query="&".join(masked)).geturl()


def param_display(param: dict[str, Any]) -> str:
    """`name=<field>` or `name=literal` (secret-looking literals masked) for the UI."""
    if param.get("custom_value") is not None:
        secret = SECRET_PARAM.search(param["name"])
        return f"{param['name']}={'***' if secret else param['custom_value']}"
    source = param.get("standard_contact_field") or param.get("custom_contact_field")
    return f"{param['name']}=<{source}>"


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# API middleware: auth + request log + XML errors


class ApiGate:
    """Authenticates `/1.0` calls, records them in the account's request log, renders errors."""

    def __init__(self, app: ASGIApp, sim: MaileonSim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        account, problem = self.sim.authenticate(scope)
        if problem is not None:
            await problem(scope, receive, send)
            return
        assert account is not None
        scope["maileon_account"] = account
        try:
            await self.app(scope, receive, send_wrapper)
        except ApiError as exc:
            response = exc.body or error_xml(exc.status, exc.message)
            await response(scope, receive, send_wrapper)
        except HTTPException as exc:
            message = {404: "resource not found", 405: "method not allowed"}.get(
                exc.status_code, exc.detail)
            await error_xml(exc.status_code, message, dict(exc.headers or {}))(
                scope, receive, send_wrapper)
        finally:
            account.requests.append({
                "method": scope["method"], "path": scope["path"], "status": status["code"],
                "query": scope.get("query_string", b"").decode("latin-1"), "time": now_ms(),
            })


def acc_of(request: Request) -> Account:
    account: Account = request.scope["maileon_account"]
    return account


# ---------------------------------------------------------------------------------------------
# the simulator


@dataclass
class ApiKey:
    key: str
    account: str
    methods: set[str]


class MaileonSim:
    """A simulated Maileon. `app` is the ASGI app (Starlette wrapped in FaultMiddleware)."""

    def __init__(self, *, api_keys: dict[str, set[str]] | None = None,
                 time_scale: float = 1.0) -> None:
        self.time_scale = time_scale
        self.faults = Faults()
        self.keys: dict[str, ApiKey] = {}
        self.accounts: dict[str, Account] = {}
        self._ids: dict[str, int] = {}
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.account(DEFAULT_ACCOUNT)
        default = api_keys if api_keys is not None else {DEFAULT_KEY: set(ALL_METHODS)}
        for key, methods in default.items():
            self.add_key(key, DEFAULT_ACCOUNT, methods)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
        )
        self.templates = Jinja2Templates(env=env)
        self.app: ASGIApp = FaultMiddleware(self._build(), self.faults, ("/_sim/",))

    # -- bookkeeping ------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        start = {"contact": 1000, "newsletter_account": 100}.get(kind, 0)
        self._ids[kind] = self._ids.get(kind, start) + 1
        return self._ids[kind]

    def account(self, name: str) -> Account:
        if name not in self.accounts:
            self.accounts[name] = Account(name, self.next_id("newsletter_account"))
        return self.accounts[name]

    def add_key(self, key: str, account: str, methods: Iterable[str]) -> None:
        self.account(account)
        self.keys[key] = ApiKey(key, account, {m.upper() for m in methods})

    def authenticate(self, scope: Scope) -> tuple[Account | None, Response | None]:
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            return None, error_xml(401, "missing API key (HTTP Basic authorization required)")
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, error_xml(401, "invalid authorization header")
        key = self.keys.get(decoded)
        if key is None and decoded.endswith(":"):
            key = self.keys.get(decoded[:-1])
        if key is None:
            return None, error_xml(401, "invalid, expired or revoked API key")
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        if method in ALL_METHODS and method not in key.methods:
            return None, error_xml(403, f"API key lacks the privilege for {method}")
        return self.accounts[key.account], None

    # -- contacts ---------------------------------------------------------------------------

    def validate_fields(self, acc: Account, payload: dict[str, Any]
                        ) -> tuple[dict[str, str | None], dict[str, Any]]:
        std_in = payload.get("standard_fields") or {}
        custom_in = payload.get("custom_fields") or {}
        if not isinstance(std_in, dict) or not isinstance(custom_in, dict):
            raise ApiError(400, "standard_fields and custom_fields must be key/value maps")
        std: dict[str, str | None] = {}
        for name, value in std_in.items():
            problem = std_field_error(name, value)
            if problem:
                raise ApiError(400, problem[1])
            std[name] = None if value is None or value == "" else xml_text(value)
        custom: dict[str, Any] = {}
        for name, value in custom_in.items():
            if name not in acc.custom_fields:
                raise ApiError(400, f"custom field {name} does not exist")
            custom[name] = custom_value(acc.custom_fields[name], name, value)
        return std, custom

    @staticmethod
    def apply_fields(c: Contact, std: dict[str, str | None], custom: dict[str, Any]) -> None:
        for name, value in std.items():
            if value is None:
                c.standard_fields.pop(name, None)
            else:
                c.standard_fields[name] = value
        for name, value in custom.items():
            if value is None:
                c.custom_fields.pop(name, None)
            else:
                c.custom_fields[name] = value

    def new_contact(self, acc: Account, email: str, permission: int, subscribe_intent: bool,
                    source: str) -> Contact:
        """A new contact; an address on the suppression list stays unsubscribed unless the
        caller explicitly subscribes it again (`subscribe_intent`)."""
        c = Contact(id=self.next_id("contact"), email=email, permission=permission)
        c.note("created", source=source, permission=permission)
        if email.lower() in acc.suppressed:
            if subscribe_intent:
                acc.suppressed.discard(email.lower())
                c.note("resubscribed", source=source)
            else:
                c.unsubscribed = True
                c.note("kept_unsubscribed", source=source)
        acc.add(c)
        return c

    def set_permission(self, acc: Account, c: Contact, permission: int, subscribe_intent: bool,
                       protect: bool, source: str) -> None:
        if c.unsubscribed:
            if not subscribe_intent:
                c.note("permission_ignored_unsubscribed", requested=permission, source=source)
                return
            c.unsubscribed = False
            if c.email:
                acc.suppressed.discard(c.email.lower())
            c.note("resubscribed", source=source)
        if protect and c.permission in (4, 5) and permission not in (4, 5):
            c.note("permission_downgrade_ignored", requested=permission, source=source)
            return
        if permission != c.permission:
            c.note("permission_changed", old=c.permission, new=permission, source=source)
            c.permission = permission

    def start_doi(self, acc: Account, c: Contact, request: Request) -> None:
        if c.permission in (4, 5) and not c.unsubscribed:
            c.note("doi_skipped_already_confirmed")
            return
        key = request.query_params.get("doimailing") or None
        c.doi_pending = True
        c.doiplus = q_bool(request, "doiplus", False)
        c.doi_mailing = key
        c.doi_mailing_unknown = key is not None and key not in acc.doi_keys
        c.note("doi_started", doimailing=key, doiplus=c.doiplus,
               doi_mailing_unknown=c.doi_mailing_unknown)

    async def contact_payload(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        ctype = request.headers.get("content-type", "").lower()
        if not body.strip():
            return {}
        if "json" in ctype or (not ctype and body.lstrip()[:1] in (b"{", b"[")):
            data = await read_json(request)
            if not isinstance(data, dict):
                raise ApiError(400, "the body must be a JSON object")
            return data
        root = parse_xml(body)
        if root.tag != "contact":
            raise ApiError(400, f"expected <contact> but got <{root.tag}>")
        return contact_payload_from_xml(root)

    async def create_contact(self, request: Request) -> Response:
        acc = acc_of(request)
        email = request.path_params["email"]
        if not valid_email(email):
            raise ApiError(400, "invalid email")
        permission = q_permission(request)
        sync_mode = q_int(request, "sync_mode", 2, 1, 2)
        doi = q_bool(request, "doi", False)
        q_bool(request, "doiplus", False)
        payload = await self.contact_payload(request)
        body_email = payload.get("email")
        if body_email and str(body_email).lower() != email.lower():
            raise ApiError(400, "email in the body differs from the email in the path")
        std, custom = self.validate_fields(acc, payload)
        ext_present = "external_id" in payload
        ext = payload.get("external_id")
        ext = None if ext in (None, "") else str(ext)
        if ext is not None and len(ext) > 255:
            raise ApiError(400, "external_id must not exceed 255 characters")
        existing = acc.by_email(email)
        intent = doi or (permission is not None and permission > 1)
        if existing is None:
            c = self.new_contact(acc, email, permission or 1, intent, "api")
            c.external_id = ext
            c.src = request.query_params.get("src")
            c.subscription_page = request.query_params.get("subscription_page")
            self.apply_fields(c, std, custom)
            if doi:
                self.start_doi(acc, c, request)
            return id_response(c.id, 201)
        if sync_mode == 2:
            existing.note("create_ignored_sync_mode_2")
            return id_response(existing.id, 200)
        c = existing
        if ext_present:
            c.external_id = ext
        self.apply_fields(c, std, custom)
        # The documented default permission (1) applies when none is sent: whether Maileon
        # really lowers an existing contact then is UNCONFIRMED, so this takes the pessimistic
        # reading. DOI/DOI+ contacts are protected either way (reference §2.1).
        self.set_permission(acc, c, permission if permission is not None else 1, intent,
                            protect=True, source="api")
        if doi:
            self.start_doi(acc, c, request)
        if request.query_params.get("src"):
            c.src = request.query_params["src"]
        c.touch()
        c.note("updated", source="api")
        return id_response(c.id, 201)

    async def update_contact(self, request: Request) -> Response:
        acc = acc_of(request)
        c = acc.by_email(request.path_params["email"])
        if c is None:
            raise ApiError(404, "contact not found")
        payload = await self.contact_payload(request)
        std, custom = self.validate_fields(acc, payload)
        new_email = payload.get("email")
        if new_email and str(new_email).lower() != (c.email or "").lower():
            new_email = str(new_email)
            if not valid_email(new_email):
                raise ApiError(400, "invalid email")
            if acc.by_email(new_email) is not None:
                raise ApiError(409, f"a contact with email {new_email} already exists")
        permission = q_permission(request)
        if permission is None and payload.get("permission") not in (None, ""):
            raw = str(payload["permission"])
            if not INT_RE.match(raw) or not 1 <= int(raw) <= 6:
                raise ApiError(400, f"invalid permission {raw}")
            permission = int(raw)
        if new_email and new_email != c.email:
            c.note("email_changed", old=c.email, new=new_email)
            acc.set_email(c, new_email)
        if "external_id" in payload:
            ext = payload["external_id"]
            c.external_id = None if ext in (None, "") else str(ext)
        self.apply_fields(c, std, custom)
        if permission is not None:
            self.set_permission(acc, c, permission, permission > 1, protect=False, source="api")
        c.touch()
        c.note("updated", source="api-put")
        return Response(status_code=201)

    async def get_contact(self, request: Request) -> Response:
        c = acc_of(request).by_email(request.path_params["email"])
        if c is None:
            raise ApiError(404, "contact not found")
        return xml_response(contact_xml(
            None, c, request.query_params.getlist("standard_field"),
            request.query_params.getlist("custom_field")))

    def contacts_response(self, request: Request, contacts: list[Contact]) -> Response:
        root = Element("contacts")
        std = request.query_params.getlist("standard_field")
        custom = request.query_params.getlist("custom_field")
        for c in contacts:
            contact_xml(root, c, std, custom)
        return xml_response(root)

    async def get_contacts_by_email(self, request: Request) -> Response:
        c = acc_of(request).by_email(request.path_params["email"])
        return self.contacts_response(request, [c] if c else [])

    async def get_contacts_by_external_id(self, request: Request) -> Response:
        contacts = acc_of(request).by_external_id(request.path_params["external_id"])
        return self.contacts_response(request, contacts)

    async def get_contact_by_id(self, request: Request) -> Response:
        cid = q_int(request, "id", None)
        c = acc_of(request).by_id(cid) if cid is not None else None
        if c is None:
            raise ApiError(404, "contact not found")
        return xml_response(contact_xml(
            None, c, request.query_params.getlist("standard_field"),
            request.query_params.getlist("custom_field")))

    def hard_delete(self, acc: Account, contacts: list[Contact]) -> Response:
        for c in contacts:
            acc.drop(c)
        return Response(status_code=200)

    async def delete_by_email(self, request: Request) -> Response:
        acc = acc_of(request)
        wanted = request.path_params["email"].lower()
        return self.hard_delete(acc, [c for c in acc.live() if (c.email or "").lower() == wanted])

    async def delete_by_external_id(self, request: Request) -> Response:
        acc = acc_of(request)
        return self.hard_delete(acc, acc.by_external_id(request.path_params["external_id"]))

    async def delete_by_id(self, request: Request) -> Response:
        acc = acc_of(request)
        cid = q_int(request, "id", None)
        c = acc.by_id(cid) if cid is not None else None
        return self.hard_delete(acc, [c] if c else [])

    async def unsubscribe_by_email(self, request: Request) -> Response:
        acc = acc_of(request)
        c = acc.by_email(request.path_params["email"])
        if c is None:
            raise ApiError(404, "contact not found")
        self.unsubscribe(acc, c, "api", request.query_params.get("mailingId"),
                         request.query_params.getlist("reason"), fire=True)
        return Response(status_code=204)

    async def unsubscribe_by_external_id(self, request: Request) -> Response:
        acc = acc_of(request)
        contacts = acc.by_external_id(request.path_params["external_id"])
        if not contacts:
            raise ApiError(404, "contact not found")
        for c in contacts:
            self.unsubscribe(acc, c, "api", request.query_params.get("mailingId"),
                             request.query_params.getlist("reason"), fire=True)
        return Response(status_code=204)

    def unsubscribe(self, acc: Account, c: Contact, source: str, mailing_id: str | None,
                    reasons: list[str], fire: bool) -> dict[str, Any]:
        ts = now_ms()
        snap = c.snapshot()
        msg_id = None if source == "api" else str(secrets.randbelow(10**9))
        record = {
            "id": self.next_id("unsubscription"), "timestamp": ts, "time": fmt_ts(ts),
            "contact_id": c.id, "email": c.email, "external_id": c.external_id,
            "source": source, "mailing_id": mailing_id, "reasons": reasons, "msg_id": msg_id,
            "webhooks_fired": fire,
        }
        acc.unsubscriptions.append(record)
        if c.email:
            acc.suppressed.add(c.email.lower())
        c.unsubscribed = True
        c.doi_pending = False
        c.note("unsubscribed", source=source, webhooks_fired=fire)
        if fire:
            self.fire(acc, "unsubscription", snap, {
                "timestamp": fmt_ts(ts), "msg_id": msg_id, "method": source, "source": source,
                "mailing_id": mailing_id, "reason": reasons[0] if reasons else None,
            })
        # Maileon anonymizes unsubscribed contacts (asynchronously; here right after firing)
        c.anonymized = True
        acc.set_email(c, None)
        c.standard_fields.clear()
        c.custom_fields.clear()
        c.touch()
        c.note("anonymized")
        return record

    def confirm_doi(self, acc: Account, c: Contact) -> None:
        if c.unsubscribed:
            c.unsubscribed = False
            c.note("resubscribed", source="doi")
        if c.email:
            acc.suppressed.discard(c.email.lower())
        old = c.permission
        c.permission = 5 if c.doiplus else 4
        c.doi_pending = False
        c.touch()
        c.note("doi_confirmed", old=old, new=c.permission, doimailing=c.doi_mailing)
        ts = now_ms()
        msg_id = str(secrets.randbelow(10**9))
        acc.doi_confirmations.append({"timestamp": ts, "time": fmt_ts(ts), "contact_id": c.id,
                                      "email": c.email, "external_id": c.external_id,
                                      "permission": c.permission, "doi_mailing": c.doi_mailing})
        self.fire(acc, "doi", c.snapshot(), {"timestamp": fmt_ts(ts), "msg_id": msg_id,
                                             "method": "link", "source": "link"})

    async def list_contacts(self, request: Request) -> Response:
        index, size = paging(request)
        contacts = self.updated_after(request, list(acc_of(request).live()))
        page = contacts[(index - 1) * size: index * size]
        response = self.contacts_response(request, page)
        paged_headers(request, response, index, size, len(contacts))
        return response

    @staticmethod
    def updated_after(request: Request, contacts: list[Contact]) -> list[Contact]:
        raw = request.query_params.get("updated_after")
        if not raw:
            return contacts
        if not valid_date(raw, True):
            raise ApiError(400, "updated_after must match yyyy-MM-dd HH:mm:ss")
        threshold = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        limit = int(threshold.timestamp() * 1000)
        return [c for c in contacts if c.updated > limit]

    async def count_contacts(self, request: Request) -> Response:
        contacts = self.updated_after(request, list(acc_of(request).live()))
        root = Element("count")
        root.text = str(len(contacts))
        return xml_response(root)

    # -- synchronize --------------------------------------------------------------------------

    async def synchronize(self, request: Request) -> Response:
        acc = acc_of(request)
        permission = q_permission(request) or 1
        sync_mode = q_int(request, "sync_mode", 2, 1, 2)
        use_eid = q_bool(request, "use_external_id", False)
        if use_eid and q_bool(request, "prefer_maileon_id", False):
            raise ApiError(400, "use_external_id and prefer_maileon_id must not both be true")
        ignore_invalid = q_bool(request, "ignore_invalid_contacts", False)
        reimport = q_bool(request, "reimport_unsubscribed_contacts", True)
        override = q_bool(request, "override_permission", True)
        update_only = q_bool(request, "update_only", False)
        root = parse_xml(await request.body())
        if root.tag != "contacts":
            raise ApiError(400, f"expected <contacts> but got <{root.tag}>")
        items = [contact_payload_from_xml(el) for el in root.findall("contact")]
        invalid: list[tuple[dict[str, Any], int, str]] = []
        valid: list[tuple[dict[str, Any], dict[str, str | None], dict[str, Any]]] = []
        seen_emails: set[str] = set()
        seen_eids: set[str] = set()
        for item in items:
            problem, std, custom = self.sync_check(acc, item, use_eid, seen_emails, seen_eids)
            if problem is not None:
                invalid.append((item, *problem))
            else:
                valid.append((item, std, custom))
        counts = {"new": 0, "existing": 0, "unsubscribed": 0}
        if not invalid or ignore_invalid:
            for item, std, custom in valid:
                self.sync_apply(acc, item, std, custom, permission=permission,
                                sync_mode=sync_mode, use_eid=use_eid, reimport=reimport,
                                override=override, update_only=update_only, counts=counts)
        report = Element("report")
        sub(report, "success", not invalid)
        sub(report, "count_contacts", len(items))
        sub(report, "count_new_contacts", counts["new"])
        sub(report, "count_existing_contacts", counts["existing"])
        sub(report, "count_unsubscribed_contacts", counts["unsubscribed"])
        sub(report, "count_invalid_contacts", len(invalid))
        invalid_el = SubElement(report, "invalid_contacts")
        for item, code, field_name in invalid:
            el = SubElement(invalid_el, "invalid_contact")
            sub(el, "email", item.get("email") or None)
            sub(el, "external_id", item.get("external_id") or None)
            err = SubElement(el, "error")
            err.set("code", str(code))
            sub(err, "error_field", field_name)
        return xml_response(report, 400 if invalid and not ignore_invalid else 200)

    def sync_check(self, acc: Account, item: dict[str, Any], use_eid: bool, seen_emails: set[str],
                   seen_eids: set[str]
                   ) -> tuple[tuple[int, str] | None, dict[str, str | None], dict[str, Any]]:
        email = item.get("email") or ""
        eid = item.get("external_id") or ""
        if use_eid:
            if not eid:
                return (1, "external_id"), {}, {}
            if eid in seen_eids:
                return (4, "external_id"), {}, {}
            if email and not valid_email(email):
                return (3, "email"), {}, {}
            if not email and not acc.by_external_id(eid):
                return (2, "email"), {}, {}
        else:
            if not email:
                return (2, "email"), {}, {}
            if not valid_email(email):
                return (3, "email"), {}, {}
            if email.lower() in seen_emails:
                return (5, "email"), {}, {}
        std: dict[str, str | None] = {}
        for name, value in item["standard_fields"].items():
            problem = std_field_error(name, value)
            if problem:
                return (problem[0], name), {}, {}
            std[name] = value or None
        custom: dict[str, Any] = {}
        for name, value in item["custom_fields"].items():
            if name not in acc.custom_fields:
                return (21, name), {}, {}
            try:
                custom[name] = custom_value(acc.custom_fields[name], name, value)
            except ApiError:
                return (21, name), {}, {}
        if email:
            seen_emails.add(email.lower())
        if eid:
            seen_eids.add(eid)
        return None, std, custom

    def sync_apply(self, acc: Account, item: dict[str, Any], std: dict[str, str | None],
                   custom: dict[str, Any], *, permission: int, sync_mode: int | None,
                   use_eid: bool, reimport: bool, override: bool, update_only: bool,
                   counts: dict[str, int]) -> None:
        email = item.get("email") or None
        eid = item.get("external_id") or None
        if use_eid:
            matches = acc.by_external_id(str(eid))
            existing = matches[0] if matches else None
        else:
            existing = acc.by_email(str(email))
        if existing is None:
            if update_only or email is None:
                return
            if email.lower() in acc.suppressed and not reimport:
                counts["unsubscribed"] += 1
                return
            c = self.new_contact(acc, email, permission, permission > 1, "synchronize")
            c.external_id = eid
            self.apply_fields(c, std, custom)
            counts["new"] += 1
            return
        if existing.unsubscribed and not reimport:
            counts["unsubscribed"] += 1
            return
        counts["existing"] += 1
        if sync_mode != 1:
            return
        if use_eid and email and email.lower() != (existing.email or "").lower():
            if acc.by_email(email) is None:
                acc.set_email(existing, email)
        elif eid is not None:
            existing.external_id = eid
        self.apply_fields(existing, std, custom)
        if override:
            self.set_permission(acc, existing, permission, permission > 1, protect=False,
                                source="synchronize")
        existing.touch()
        existing.note("updated", source="synchronize")

    # -- custom fields ------------------------------------------------------------------------

    async def list_custom_fields(self, request: Request) -> Response:
        root = Element("custom_fields")
        for name, ftype in acc_of(request).custom_fields.items():
            el = SubElement(root, "custom_field")
            sub(el, "name", name)
            sub(el, "type", ftype)
        return xml_response(root)

    @staticmethod
    def check_field_name(acc: Account, name: str) -> None:
        if not 3 <= len(name) <= 64:
            raise ApiError(400, "the field name must contain at least 3 and at most 64 characters")
        if name.upper() in STANDARD_FIELDS + READONLY_STANDARD or name.lower() in RESERVED_CUSTOM:
            raise ApiError(400, f"the field name {name} is reserved")
        if name in acc.custom_fields:
            raise ApiError(409, f"custom field {name} already exists")

    async def create_custom_field(self, request: Request) -> Response:
        acc = acc_of(request)
        name = request.path_params["name"]
        ftype = request.query_params.get("type", "string")
        if ftype not in CUSTOM_TYPES:
            raise ApiError(400, f"invalid type {ftype}; valid: {', '.join(CUSTOM_TYPES)}")
        self.check_field_name(acc, name)
        acc.custom_fields[name] = ftype
        return Response(status_code=201)

    async def delete_custom_field(self, request: Request) -> Response:
        acc = acc_of(request)
        name = request.path_params["name"]
        if acc.custom_fields.pop(name, None) is None:
            raise ApiError(404, f"custom field {name} not found")
        for c in acc.contacts.values():
            c.custom_fields.pop(name, None)
        return Response(status_code=200)

    async def rename_custom_field(self, request: Request) -> Response:
        acc = acc_of(request)
        old, new = request.path_params["old"], request.path_params["new"]
        if old not in acc.custom_fields:
            raise ApiError(404, f"custom field {old} not found")
        self.check_field_name(acc, new)
        acc.custom_fields = {(new if k == old else k): v for k, v in acc.custom_fields.items()}
        for c in acc.contacts.values():
            if old in c.custom_fields:
                c.custom_fields[new] = c.custom_fields.pop(old)
        return Response(status_code=200)

    # -- transaction types -----------------------------------------------------------------------

    def type_xml(self, parent: Element | None, t: TxType) -> Element:
        el = Element("transaction_type") if parent is None else SubElement(
            parent, "transaction_type")
        sub(el, "id", t.id)
        sub(el, "name", t.name)
        sub(el, "description", t.description)
        if t.archiving_duration is not None:
            sub(el, "archivingDuration", t.archiving_duration)
        sub(el, "storeOnly", t.store_only)
        attrs = SubElement(el, "attributes")
        for a in t.attributes:
            a_el = SubElement(attrs, "attribute")
            sub(a_el, "id", a.id)
            sub(a_el, "name", a.name)
            sub(a_el, "description", a.description)
            sub(a_el, "type", a.type)
            sub(a_el, "required", a.required)
        return el

    async def list_types(self, request: Request) -> Response:
        index, size = paging(request, default_size=10)
        types = list(acc_of(request).transaction_types.values())
        root = Element("transaction_types")
        for t in types[(index - 1) * size: index * size]:
            self.type_xml(root, t)
        response = xml_response(root)
        paged_headers(request, response, index, size, len(types))
        return response

    async def count_types(self, request: Request) -> Response:
        root = Element("count")
        root.text = str(len(acc_of(request).transaction_types))
        return xml_response(root)

    async def get_type(self, request: Request) -> Response:
        t = acc_of(request).tx_type(request.path_params["ref"])
        if t is None:
            raise ApiError(404, "transaction type not found")
        return xml_response(self.type_xml(None, t))

    async def delete_type(self, request: Request) -> Response:
        acc = acc_of(request)
        t = acc.tx_type(request.path_params["ref"])
        if t is None:
            raise ApiError(404, "transaction type not found")
        del acc.transaction_types[t.id]
        return Response(status_code=200)

    async def create_type(self, request: Request) -> Response:
        acc = acc_of(request)
        body = await request.body()
        ctype = request.headers.get("content-type", "").lower()
        if "json" in ctype:
            data = await read_json(request)
            if not isinstance(data, dict):
                raise ApiError(400, "the body must be a JSON object")
            spec = self.type_spec_from_json(data)
        else:
            root = parse_xml(body)
            if root.tag != "transaction_type":
                raise ApiError(400, f"expected <transaction_type> but got <{root.tag}>")
            spec = self.type_spec_from_xml(root)
        t = self.build_type(acc, spec)
        acc.transaction_types[t.id] = t
        return Response(str(t.id), status_code=201, media_type="text/plain")

    @staticmethod
    def type_spec_from_xml(root: Any) -> dict[str, Any]:
        attrs = []
        container = root.find("attributes")
        for a in container.findall("attribute") if container is not None else []:
            attrs.append({
                "name": (a.findtext("name") or "").strip(),
                "type": (a.findtext("type") or "").strip(),
                "required": (a.findtext("required") or "false").strip(),
                "description": a.findtext("description") or "",
            })
        return {
            "name": (root.findtext("name") or "").strip(),
            "description": root.findtext("description") or "",
            "archivingDuration": root.findtext("archivingDuration"),
            "storeOnly": root.findtext("storeOnly"),
            "attributes": attrs,
        }

    @staticmethod
    def type_spec_from_json(data: dict[str, Any]) -> dict[str, Any]:
        attrs = data.get("attributes") or []
        if not isinstance(attrs, list) or not all(isinstance(a, dict) for a in attrs):
            raise ApiError(400, "attributes must be a list of objects")
        return {
            "name": str(data.get("name") or ""),
            "description": str(data.get("description") or ""),
            "archivingDuration": data.get("archivingDuration"),
            "storeOnly": data.get("storeOnly"),
            "attributes": [
                {"name": str(a.get("name") or ""), "type": str(a.get("type") or ""),
                 "required": a.get("required", False),
                 "description": str(a.get("description") or "")}
                for a in attrs
            ],
        }

    def build_type(self, acc: Account, spec: dict[str, Any]) -> TxType:
        name = spec["name"]
        levels = name.split(".")
        if (not name or len(name) > 255 or not TYPE_NAME_RE.match(name)
                or any(not lv or len(lv) > 32 for lv in levels)):
            raise ApiError(400, f"invalid transaction type name '{name}': must start with a "
                                "letter, contain only letters, digits, _ and . (levels of at "
                                "most 32 characters, 255 in total)")
        if any(t.name == name for t in acc.transaction_types.values()):
            raise ApiError(409, f"transaction type {name} already exists")
        if len(spec["description"]) > 1000:
            raise ApiError(400, "description must not exceed 1000 characters")
        duration = spec.get("archivingDuration")
        if duration in (None, ""):
            duration = None
        elif not INT_RE.match(str(duration).strip()):
            raise ApiError(400, "archivingDuration must be an integer")
        store_only = str(spec.get("storeOnly")).lower() == "true"
        attributes: list[TxAttribute] = []
        for a in spec["attributes"]:
            if not a["name"]:
                raise ApiError(400, "attribute name missing")
            if a["type"] not in ATTR_TYPES:
                raise ApiError(400, f"invalid attribute type '{a['type']}' for {a['name']}; "
                                    f"valid: {', '.join(ATTR_TYPES)}")
            if any(x.name == a["name"] for x in attributes):
                raise ApiError(400, f"duplicate attribute {a['name']}")
            required = a["required"] is True or str(a["required"]).lower() == "true"
            attributes.append(TxAttribute(self.next_id("attribute"), a["name"], a["type"],
                                          required, a["description"]))
        return TxType(self.next_id("transaction_type"), name, spec["description"],
                      int(duration) if duration is not None else None, store_only, attributes)

    # -- transactions -----------------------------------------------------------------------------

    async def create_transactions(self, request: Request) -> Response:
        acc = acc_of(request)
        ctype = request.headers.get("content-type", "").lower()
        if not ctype.startswith("application/json"):
            raise ApiError(415, "media type must be application/json")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_TX_BODY:
            raise ApiError(413, f"request entity larger than {MAX_TX_BODY} bytes")
        body = await request.body()
        if len(body) > MAX_TX_BODY:
            raise ApiError(413, f"request entity larger than {MAX_TX_BODY} bytes")
        ignore_invalid = q_bool(request, "ignore_invalid_transactions", True)
        generate = q_bool(request, "generate_transaction_id", False)
        try:
            items = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON: {exc}") from exc
        if not isinstance(items, list):
            raise ApiError(400, "the body must be a JSON array of transactions")
        checked = [self.check_transaction(acc, item) for item in items]
        if not ignore_invalid and any(problem for _, problem in checked):
            reports = [self.tx_report(item, None, problem or "not processed (batch rejected)")
                       for item, problem in checked]
            raise ApiError(400, "invalid transactions", JSONResponse({"reports": reports}, 400))
        reports = []
        for item, problem in checked:
            if problem:
                reports.append(self.tx_report(item, None, problem))
                continue
            reports.append(self.store_transaction(acc, item, generate))
        return JSONResponse({"reports": reports}, status_code=201)

    @staticmethod
    def tx_contact_ref(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            return {}
        imp = item.get("import")
        if isinstance(imp, dict) and isinstance(imp.get("contact"), dict):
            ref: dict[str, Any] = imp["contact"]
            return ref
        contact = item.get("contact")
        return contact if isinstance(contact, dict) else {}

    def tx_report(self, item: Any, c: Contact | None, problem: str | None) -> dict[str, Any]:
        if c is not None:
            contact = {"id": c.id, "email": c.email, "external_id": c.external_id}
        else:
            ref = self.tx_contact_ref(item)
            contact = {k: ref[k] for k in ("id", "email", "external_id") if k in ref}
        report: dict[str, Any] = {"contact": contact, "queued": problem is None}
        if problem is not None:
            report["message"] = problem
        return report

    def find_tx_contact(self, acc: Account, ref: dict[str, Any]) -> Contact | None:
        if ref.get("id") not in (None, ""):
            try:
                return acc.by_id(int(ref["id"]))
            except (TypeError, ValueError):
                return None
        if ref.get("email"):
            return acc.by_email(str(ref["email"]))
        if ref.get("external_id") not in (None, ""):
            matches = acc.by_external_id(str(ref["external_id"]))
            return matches[0] if matches else None
        return None

    def check_transaction(self, acc: Account, item: Any) -> tuple[Any, str | None]:
        if not isinstance(item, dict):
            return item, "transaction must be a JSON object"
        t = self.resolve_type(acc, item)
        if t is None:
            return item, "transaction type not found"
        content = item.get("content") or {}
        if not isinstance(content, dict):
            return item, "content must be a JSON object"
        attrs = {a.name: a for a in t.attributes}
        for name, value in content.items():
            if name not in attrs:
                return item, f"unknown attribute {name} for transaction type {t.name}"
            if value is not None:
                problem = attribute_error(attrs[name], value, t.store_only)
                if problem:
                    return item, problem
        for a in t.attributes:
            if a.required and content.get(a.name) is None:
                return item, f"required attribute {a.name} missing"
        imp = item.get("import")
        if imp is not None:
            ref = imp.get("contact") if isinstance(imp, dict) else None
            if not isinstance(ref, dict):
                return item, "import must contain a contact"
            if self.find_tx_contact(acc, ref) is None:
                email = str(ref.get("email") or "")
                if not email:
                    return item, "contact not found (import needs an email)"
                if not valid_email(email):
                    return item, "invalid email"
                perm = ref.get("permission", 1)
                if not isinstance(perm, int) or isinstance(perm, bool) or not 1 <= perm <= 6:
                    return item, "invalid permission"
            return item, None
        ref = item.get("contact")
        if not isinstance(ref, dict) or not any(ref.get(k) for k in ("id", "email",
                                                                      "external_id")):
            return item, "contact missing"
        if self.find_tx_contact(acc, ref) is None:
            return item, "contact not found"
        return item, None

    @staticmethod
    def resolve_type(acc: Account, item: dict[str, Any]) -> TxType | None:
        if item.get("type") not in (None, ""):
            ref = item["type"]
            if isinstance(ref, bool) or not str(ref).isdigit():
                return None
            return acc.tx_type(int(ref))
        if item.get("typeName"):
            return acc.tx_type(str(item["typeName"]))
        return None

    def store_transaction(self, acc: Account, item: dict[str, Any], generate: bool
                          ) -> dict[str, Any]:
        t = self.resolve_type(acc, item)
        assert t is not None
        c: Contact | None
        if item.get("import") is not None:
            ref = item["import"]["contact"]
            c = self.find_tx_contact(acc, ref)
            if c is None:
                perm = int(ref.get("permission", 1))
                c = self.new_contact(acc, str(ref["email"]), perm, False, "transaction-import")
                if ref.get("external_id") not in (None, ""):
                    c.external_id = str(ref["external_id"])
        else:
            c = self.find_tx_contact(acc, item["contact"])
        assert c is not None
        content = dict(item.get("content") or {})
        report = self.tx_report(item, c, None)
        if generate and any(a.name == "transaction_id" for a in t.attributes) and (
                content.get("transaction_id") in (None, "")):
            content["transaction_id"] = uuid.uuid4().hex
        if content.get("transaction_id") not in (None, ""):
            report["transaction_id"] = content["transaction_id"]
        ts = now_ms()
        acc.transactions.append({
            "id": self.next_id("transaction"), "type_id": t.id, "type_name": t.name,
            "contact_id": c.id, "email": c.email, "external_id": c.external_id,
            "content": content, "timestamp": ts, "time": fmt_ts(ts),
        })
        return report

    async def recent_transactions(self, request: Request) -> Response:
        acc = acc_of(request)
        type_id = q_int(request, "type_id", None)
        if type_id is None:
            raise ApiError(400, "type_id is required")
        count = q_int(request, "count", 1000, 1, 2000)
        matching = [tx for tx in acc.transactions if tx["type_id"] == type_id][-(count or 1):]
        return JSONResponse([
            {"tx": tx["content"], "txId": tx["id"], "contactId": tx["contact_id"],
             "email": tx["email"]}
            for tx in matching
        ])

    # -- webhooks --------------------------------------------------------------------------------

    @staticmethod
    def webhook_spec(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        url = data.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
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
            clean_params.append({
                "name": str(p["name"]),
                "standard_contact_field": p.get("standard_contact_field"),
                "custom_contact_field": p.get("custom_contact_field"),
                "custom_value": p.get("custom_value"),
            })
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
        wid = self.next_id("webhook")
        acc.webhooks[wid] = {"id": wid, "newsletterAccountId": acc.newsletter_account_id, **spec}
        return id_response(wid, 201)

    def webhook_of(self, request: Request) -> dict[str, Any]:
        raw = request.path_params["webhook_id"]
        hook = acc_of(request).webhooks.get(int(raw)) if raw.isdigit() else None
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
            value = self.contact_value(snap, p.get("standard_contact_field"),
                                       p.get("custom_contact_field"))
            text = "" if value is None else xml_text(value)
            # Maileon's quirk: '+' in contact values is not percent-encoded
            safe = "+" if p.get("standard_contact_field") else ""
            pairs.append(f"{name}={quote(text, safe=safe)}")
        url = str(hook["url"])
        if not pairs:
            return url
        return url + ("&" if "?" in url else "?") + "&".join(pairs)

    def webhook_body(self, hook: dict[str, Any], snap: dict[str, Any],
                     event_data: dict[str, Any]) -> dict[str, Any] | None:
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

    def fire(self, acc: Account, event: str, snap: dict[str, Any],
             event_data: dict[str, Any]) -> None:
        for hook in list(acc.webhooks.values()):
            if hook["event"] != event:
                continue
            body = self.webhook_body(hook, snap, event_data)
            delivery: dict[str, Any] = {
                "id": self.next_id("delivery"), "webhook_id": hook["id"], "event": event,
                "url": self.webhook_url(hook, snap), "body": body, "state": "pending",
                "status": None, "attempts": [], "created": fmt_ts(now_ms()),
                "contact_id": snap["id"],
            }
            acc.deliveries.append(delivery)
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self.deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def deliver(self, delivery: dict[str, Any]) -> None:
        headers = {"User-Agent": "Maileon-Webhook-Simulator"}
        content = b""
        if delivery["body"] is not None:
            content = json.dumps(delivery["body"]).encode()
            headers["Content-Type"] = "application/json"
        try:
            for delay in (0.0, *RETRY_DELAYS):
                if delay:
                    await asyncio.sleep(delay * self.time_scale)
                attempt: dict[str, Any] = {"time": fmt_ts(now_ms())}
                try:
                    async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT,
                                                 trust_env=False) as client:
                        resp = await client.post(delivery["url"], content=content,
                                                 headers=headers)
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
            self._inflight -= 1

    # -- reports ---------------------------------------------------------------------------------

    def filtered_unsubscriptions(self, request: Request) -> list[dict[str, Any]]:
        acc = acc_of(request)
        from_date = q_int(request, "from_date", None)
        to_date = q_int(request, "to_date", None)
        emails = {e.lower() for e in request.query_params.getlist("emails")}
        eids = set(request.query_params.getlist("eids"))
        ids = set(request.query_params.getlist("ids"))
        sources = set(request.query_params.getlist("source"))
        mailings = set(request.query_params.getlist("mailing_id"))
        out = []
        for u in acc.unsubscriptions:
            if from_date is not None and u["timestamp"] < from_date:
                continue
            if to_date is not None and u["timestamp"] >= to_date:
                continue
            if emails and (u["email"] or "").lower() not in emails:
                continue
            if eids and u["external_id"] not in eids:
                continue
            if ids and str(u["contact_id"]) not in ids:
                continue
            if sources and u["source"] not in sources:
                continue
            if mailings and str(u["mailing_id"]) not in mailings:
                continue
            out.append(u)
        return sorted(out, key=lambda u: (u["timestamp"], u["id"]))

    async def unsubscriptions_report(self, request: Request) -> Response:
        index, size = paging(request)
        items = self.filtered_unsubscriptions(request)
        root = Element("unsubscriptions")
        for u in items[(index - 1) * size: index * size]:
            el = SubElement(root, "unsubscription")
            sub(el, "timestamp", u["time"])
            contact = SubElement(el, "contact")
            sub(contact, "id", u["contact_id"])
            sub(contact, "email", u["email"])
            sub(contact, "external_id", u["external_id"])
            if u["mailing_id"] is not None:
                sub(el, "mailing_id", u["mailing_id"])
            sub(el, "source", u["source"])
            if u["msg_id"] is not None:
                sub(el, "msg_id", u["msg_id"])
        response = xml_response(root)
        paged_headers(request, response, index, size, len(items))
        return response

    async def unsubscriptions_count(self, request: Request) -> Response:
        root = Element("count")
        root.text = str(len(self.filtered_unsubscriptions(request)))
        return xml_response(root)

    # -- DOI mailings ---------------------------------------------------------------------------

    def doi_mailings(self, acc: Account) -> dict[int, str]:
        """Each DOI key of the account is one DOI mailing (mailing id -> key)."""
        for key in sorted(acc.doi_keys):
            if key not in acc.doi_mailing_ids:
                acc.doi_mailing_ids[key] = self.next_id("mailing")
        return {mid: key for key, mid in acc.doi_mailing_ids.items() if key in acc.doi_keys}

    async def mailings_by_type(self, request: Request) -> Response:
        types = {t for raw in request.query_params.getlist("types") for t in raw.split(",")}
        if not types or not types <= {"doi", "trigger", "regular"}:
            raise ApiError(400, "types must be doi, trigger or regular")
        index, size = paging(request, 10)
        ids = sorted(self.doi_mailings(acc_of(request))) if "doi" in types else []
        root = Element("mailings")
        for mid in ids[(index - 1) * size: index * size]:
            sub(SubElement(root, "mailing"), "id", mid)
        response = xml_response(root)
        paged_headers(request, response, index, size, len(ids))
        return response

    async def mailing_doi_key(self, request: Request) -> Response:
        raw = request.path_params["mailing_id"]
        key = self.doi_mailings(acc_of(request)).get(int(raw)) if raw.isdigit() else None
        if key is None:
            raise ApiError(404, "mailing not found")
        root = Element("doi_key")
        root.text = key
        return xml_response(root)

    async def ping(self, request: Request) -> Response:
        return Response(status_code=200)

    # -- control surface --------------------------------------------------------------------------

    async def control_body(self, request: Request) -> dict[str, Any]:
        data = await read_json(request)
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object")
        return data

    def control_account(self, name: Any) -> Account:
        account = self.accounts.get(str(name or DEFAULT_ACCOUNT))
        if account is None:
            raise ApiError(404, f"unknown account {name}")
        return account

    def control_contact(self, acc: Account, data: dict[str, Any]) -> Contact:
        c: Contact | None = None
        if data.get("id") is not None:
            if not str(data["id"]).isdigit():
                raise ApiError(400, "id must be a number")
            c = acc.by_id(int(data["id"]))
        elif data.get("email"):
            c = acc.by_email(str(data["email"]))
        if c is None:
            raise ApiError(404, "contact not found")
        return c

    def state(self, acc: Account) -> dict[str, Any]:
        return {
            "account": acc.name,
            "newsletter_account_id": acc.newsletter_account_id,
            "contacts": [c.to_json() for c in acc.contacts.values()],
            "custom_fields": [{"name": n, "type": t} for n, t in acc.custom_fields.items()],
            "transaction_types": [t.to_json() for t in acc.transaction_types.values()],
            "transactions": acc.transactions,
            "webhooks": list(acc.webhooks.values()),
            "deliveries": acc.deliveries,
            "unsubscriptions": acc.unsubscriptions,
            "doi_confirmations": acc.doi_confirmations,
            "suppressed": sorted(acc.suppressed),
            "doi_keys": sorted(acc.doi_keys),
            "requests": list(acc.requests),
            "deliveries_in_flight": self._inflight,
        }

    async def sim_state(self, request: Request) -> Response:
        acc = self.control_account(request.query_params.get("account"))
        return JSONResponse(self.state(acc))

    async def sim_accounts(self, request: Request) -> Response:
        return JSONResponse({"accounts": sorted(self.accounts)})

    async def sim_add_key(self, request: Request) -> Response:
        data = await self.control_body(request)
        key = str(data.get("key") or "")
        if not key:
            raise ApiError(400, "key required")
        methods = data.get("methods") or sorted(ALL_METHODS)
        self.add_key(key, str(data.get("account") or DEFAULT_ACCOUNT), methods)
        return JSONResponse({"ok": True, "key": key, "account": self.keys[key].account,
                             "methods": sorted(self.keys[key].methods)})

    async def sim_revoke_key(self, request: Request) -> Response:
        data = await self.control_body(request)
        removed = self.keys.pop(str(data.get("key")), None)
        return JSONResponse({"ok": True, "revoked": removed is not None})

    async def sim_add_contact(self, request: Request) -> Response:
        """A contact that was in the account before: any permission, fields as given."""
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        email = str(data.get("email") or "")
        if not valid_email(email):
            raise ApiError(400, "a valid email is required")
        if acc.by_email(email) is not None:
            raise ApiError(409, f"a contact with email {email} already exists")
        permission = data.get("permission", 1)
        if not isinstance(permission, int) or permission not in PERMISSION_NAMES:
            raise ApiError(400, "permission must be 1..6")
        custom = data.get("custom_fields")
        custom = {} if custom is None else custom
        if not isinstance(custom, dict):
            raise ApiError(400, "custom_fields must be an object")
        for name in custom:
            acc.custom_fields.setdefault(str(name), "boolean" if isinstance(custom[name], bool)
                                         else "string")
        std, typed = self.validate_fields(acc, {"standard_fields": data.get("standard_fields"),
                                                "custom_fields": custom})
        c = self.new_contact(acc, email, permission, permission > 1,
                             str(data.get("created_by") or "control"))
        ext = data.get("external_id")
        c.external_id = None if ext in (None, "") else str(ext)
        self.apply_fields(c, std, typed)
        return JSONResponse({"ok": True, "contact": c.to_json()})

    async def sim_confirm_doi(self, request: Request) -> Response:
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        c = self.control_contact(acc, data)
        if not c.doi_pending:
            raise ApiError(409, "no pending DOI for this contact")
        self.confirm_doi(acc, c)
        return JSONResponse({"ok": True, "contact": c.to_json()})

    async def sim_unsubscribe(self, request: Request) -> Response:
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        c = self.control_contact(acc, data)
        record = self.unsubscribe(acc, c, str(data.get("source") or "link"),
                                  data.get("mailing_id"), [], fire=data.get("fire_webhooks", True)
                                  is not False)
        return JSONResponse({"ok": True, "unsubscription": record})

    async def sim_doi_key(self, request: Request) -> Response:
        data = await self.control_body(request)
        acc = self.control_account(data.get("account"))
        if not data.get("key"):
            raise ApiError(400, "key required")
        acc.doi_keys.add(str(data["key"]))
        return JSONResponse({"ok": True, "doi_keys": sorted(acc.doi_keys)})

    async def sim_faults(self, request: Request) -> Response:
        data = await read_json(request)
        for spec in data if isinstance(data, list) else [data]:
            if not isinstance(spec, dict):
                raise ApiError(400, "fault spec must be an object")
            try:
                self.faults.add(spec)
            except (TypeError, ValueError) as exc:
                raise ApiError(400, f"invalid fault spec: {exc}") from None
        return JSONResponse({"ok": True, "scripted": len(self.faults.scripted)})

    async def sim_latency(self, request: Request) -> Response:
        data = await self.control_body(request)
        try:
            self.faults.latency_ms = float(data.get("ms") or 0)
        except (TypeError, ValueError):
            raise ApiError(400, "ms must be a number") from None
        return JSONResponse({"ok": True, "latency_ms": self.faults.latency_ms})

    async def sim_down(self, request: Request) -> Response:
        data = await self.control_body(request)
        self.faults.down = bool(data.get("down", True))
        return JSONResponse({"ok": True, "down": self.faults.down})

    async def sim_reset_faults(self, request: Request) -> Response:
        self.faults.clear()
        return JSONResponse({"ok": True})

    async def sim_reset(self, request: Request) -> Response:
        for acc in self.accounts.values():
            acc.reset()
        return JSONResponse({"ok": True})

    async def sim_idle(self, request: Request) -> Response:
        try:
            timeout = float(request.query_params.get("timeout", "10"))
        except ValueError:
            raise ApiError(400, "timeout must be a number") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._inflight and loop.time() < deadline:  # noqa: ASYNC110 (simple poll)
            await asyncio.sleep(0.01)
        return JSONResponse({"idle": self._inflight == 0, "in_flight": self._inflight})

    # -- UI ---------------------------------------------------------------------------------

    async def ui_index(self, request: Request) -> Response:
        name = request.query_params.get("account") or DEFAULT_ACCOUNT
        acc = self.accounts.get(name) or self.accounts[DEFAULT_ACCOUNT]
        types = {t.id: t for t in acc.transaction_types.values()}
        contacts = sorted(acc.contacts.values(), key=lambda c: c.id)
        context = {
            "accounts": sorted(self.accounts), "account": acc,
            "contacts": [c.to_json() for c in contacts],
            "transactions": list(reversed(acc.transactions[-200:])),
            "custom_fields": acc.custom_fields,
            "types": [t.to_json() for t in types.values()],
            "webhooks": [{**h, "masked_url": mask_url(h["url"]),
                          "params_display": [param_display(p) for p in h["urlParams"]]}
                         for h in acc.webhooks.values()],
            "deliveries": [{**d, "masked_url": mask_url(d["url"])}
                           for d in reversed(acc.deliveries[-100:])],
            "unsubscriptions": list(reversed(acc.unsubscriptions[-200:])),
            "doi_keys": sorted(acc.doi_keys),
            "message": request.query_params.get("msg"),
        }
        return self.templates.TemplateResponse(request, "maileon/index.html", context)

    async def ui_action(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("account") or DEFAULT_ACCOUNT)
        action = request.path_params["action"]
        msg = ""
        try:
            acc = self.control_account(name)
            raw_id = str(form.get("contact_id") or "")
            c = acc.by_id(int(raw_id)) if raw_id.isdigit() else None
            if c is None:
                raise ApiError(404, "contact not found")
            if action == "confirm_doi":
                if not c.doi_pending:
                    raise ApiError(409, "no pending DOI")
                self.confirm_doi(acc, c)
                msg = f"DOI confirmed for {c.email}"
            elif action == "unsubscribe":
                email = c.email
                self.unsubscribe(acc, c, "link", None, [], fire=True)
                msg = f"{email} unsubscribed"
            else:
                raise ApiError(404, "unknown action")
        except ApiError as exc:
            msg = exc.message
        query = urlencode({"account": name, "msg": msg})
        return RedirectResponse(f"/?{query}", status_code=303)

    # -- app --------------------------------------------------------------------------------------

    def _build(self) -> Starlette:
        api_routes = [
            Route("/ping", self.ping, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/contacts", self.list_contacts, methods=["GET"]),
            Route("/contacts", self.synchronize, methods=["POST"]),
            Route("/contacts/count", self.count_contacts, methods=["GET"]),
            Route("/contacts/fields/custom", self.list_custom_fields, methods=["GET"]),
            Route("/contacts/fields/custom/{name}", self.create_custom_field, methods=["POST"]),
            Route("/contacts/fields/custom/{name}", self.delete_custom_field, methods=["DELETE"]),
            Route("/contacts/fields/custom/{old}/{new}", self.rename_custom_field,
                  methods=["PUT"]),
            Route("/contacts/email/{email}/unsubscribe", self.unsubscribe_by_email,
                  methods=["DELETE"]),
            Route("/contacts/email/{email}", self.get_contact, methods=["GET"]),
            Route("/contacts/email/{email}", self.create_contact, methods=["POST"]),
            Route("/contacts/email/{email}", self.update_contact, methods=["PUT"]),
            Route("/contacts/email/{email}", self.delete_by_email, methods=["DELETE"]),
            Route("/contacts/emails/{email}", self.get_contacts_by_email, methods=["GET"]),
            Route("/contacts/externalid/{external_id}/unsubscribe",
                  self.unsubscribe_by_external_id, methods=["DELETE"]),
            Route("/contacts/externalid/{external_id}", self.get_contacts_by_external_id,
                  methods=["GET"]),
            Route("/contacts/externalid/{external_id}", self.delete_by_external_id,
                  methods=["DELETE"]),
            Route("/contacts/contact", self.get_contact_by_id, methods=["GET"]),
            Route("/contacts/contact", self.delete_by_id, methods=["DELETE"]),
            Route("/transactions/types", self.list_types, methods=["GET"]),
            Route("/transactions/types", self.create_type, methods=["POST"]),
            Route("/transactions/types/count", self.count_types, methods=["GET"]),
            Route("/transactions/types/{ref}", self.get_type, methods=["GET"]),
            Route("/transactions/types/{ref}", self.delete_type, methods=["DELETE"]),
            Route("/transactions", self.recent_transactions, methods=["GET"]),
            Route("/transactions", self.create_transactions, methods=["POST"]),
            Route("/webhooks", self.list_webhooks, methods=["GET"]),
            Route("/webhooks", self.create_webhook, methods=["POST"]),
            Route("/webhooks/{webhook_id}", self.get_webhook, methods=["GET"]),
            Route("/webhooks/{webhook_id}", self.update_webhook, methods=["PUT"]),
            Route("/webhooks/{webhook_id}", self.delete_webhook, methods=["DELETE"]),
            Route("/mailings/filter/types", self.mailings_by_type, methods=["GET"]),
            Route("/mailings/{mailing_id}/settings/doi_key", self.mailing_doi_key,
                  methods=["GET"]),
            Route("/reports/unsubscriptions", self.unsubscriptions_report, methods=["GET"]),
            Route("/reports/unsubscriptions/count", self.unsubscriptions_count,
                  methods=["GET"]),
        ]
        api = Router(routes=api_routes)
        control = [
            Route("/_sim/state", self.sim_state, methods=["GET"]),
            Route("/_sim/accounts", self.sim_accounts, methods=["GET"]),
            Route("/_sim/keys", self.sim_add_key, methods=["POST"]),
            Route("/_sim/keys/revoke", self.sim_revoke_key, methods=["POST"]),
            Route("/_sim/contacts", self.sim_add_contact, methods=["POST"]),
            Route("/_sim/contacts/confirm_doi", self.sim_confirm_doi, methods=["POST"]),
            Route("/_sim/contacts/unsubscribe", self.sim_unsubscribe, methods=["POST"]),
            Route("/_sim/doi_keys", self.sim_doi_key, methods=["POST"]),
            Route("/_sim/faults", self.sim_faults, methods=["POST"]),
            Route("/_sim/latency", self.sim_latency, methods=["POST"]),
            Route("/_sim/down", self.sim_down, methods=["POST"]),
            Route("/_sim/reset_faults", self.sim_reset_faults, methods=["POST"]),
            Route("/_sim/reset", self.sim_reset, methods=["POST"]),
            Route("/_sim/idle", self.sim_idle, methods=["POST", "GET"]),
            Route("/", self.ui_index, methods=["GET"]),
            favicon_route("M", "#1e5bb8"),
            Route("/ui/{action}", self.ui_action, methods=["POST"]),
            Mount("/1.0", app=ApiGate(api, self)),
        ]

        async def on_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ApiError)
            if request.url.path.startswith("/1.0"):
                return exc.body or error_xml(exc.status, exc.message)
            return JSONResponse({"error": exc.message}, status_code=exc.status)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

        return Starlette(routes=control, lifespan=lifespan,
                         exception_handlers={ApiError: on_error})
