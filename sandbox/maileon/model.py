"""Maileon's in-memory model: accounts, contacts, transaction types; constants and errors."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from sandbox.digits import ascii_int

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
    "ADDRESS",
    "BIRTHDAY",
    "CITY",
    "COUNTRY",
    "FIRSTNAME",
    "FULLNAME",
    "GENDER",
    "HNR",
    "LASTNAME",
    "LOCALE",
    "NAMEDAY",
    "ORGANIZATION",
    "REGION",
    "SALUTATION",
    "STATE",
    "TITLE",
    "ZIP",
)
READONLY_STANDARD = ("PERMISSION_STATUS", "SENDOUT_STATUS", "CUSTOM_SOURCE", "CHECKSUM")
# synchronize error codes 6-20 (dev.maileon.com synchronize-contacts-error-codes)
SYNC_FIELD_CODES = {
    "ADDRESS": 6,
    "CITY": 7,
    "FIRSTNAME": 8,
    "FULLNAME": 9,
    "HNR": 10,
    "LASTNAME": 11,
    "ORGANIZATION": 12,
    "REGION": 13,
    "STATE": 14,
    "TITLE": 15,
    "ZIP": 16,
    "BIRTHDAY": 17,
    "NAMEDAY": 18,
    "GENDER": 19,
    "LOCALE": 20,
}
RESERVED_CUSTOM = {
    "id",
    "created",
    "external_id",
    "local_part",
    "permission_type",
    "permission_status",
    "sendout_status",
    "updated",
    "email",
}
CUSTOM_TYPES = ("string", "integer", "float", "date", "boolean")
ATTR_TYPES = ("string", "double", "float", "integer", "boolean", "timestamp", "date", "json")
WEBHOOK_EVENTS = ("doi", "unsubscription", "bounce", "filtered", "contact_field_change")
SECRET_PARAM = re.compile(r"token|secret|password|passwd|signature|apikey|api_key", re.I)

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
DATE_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
DATETIME_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\Z")
# ASCII digits only (`\d` takes "٣"), bounded: `int()` of thousands of digits raises
INT_RE = re.compile(r"\A[+-]?[0-9]{1,300}\Z")
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
    bounce_blocked: bool = False  # blocked for sendouts by the bounce policy (F15)
    hard_bounces: int = 0  # consecutive permanent bounces, for the bounce policy
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
            "id": self.id,
            "email": self.email,
            "external_id": self.external_id,
            "standard_fields": dict(self.standard_fields),
            "custom_fields": dict(self.custom_fields),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "external_id": self.external_id,
            "permission": self.permission,
            "permission_name": PERMISSION_NAMES[self.permission],
            "permission_status": self.permission_status,
            "unsubscribed": self.unsubscribed,
            "anonymized": self.anonymized,
            "doi_pending": self.doi_pending,
            "doi_mailing": self.doi_mailing,
            "doiplus": self.doiplus,
            "doi_mailing_unknown": self.doi_mailing_unknown,
            "bounce_blocked": self.bounce_blocked,
            "src": self.src,
            "subscription_page": self.subscription_page,
            "standard_fields": dict(self.standard_fields),
            "custom_fields": dict(self.custom_fields),
            "created": fmt_ts(self.created),
            "updated": fmt_ts(self.updated),
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
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "archivingDuration": self.archiving_duration,
            "storeOnly": self.store_only,
            "attributes": [
                {
                    "id": a.id,
                    "name": a.name,
                    "type": a.type,
                    "required": a.required,
                    "description": a.description,
                }
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
    mailings: dict[int, dict[str, Any]] = field(default_factory=dict)  # sent mailings (F15)
    events: list[dict[str, Any]] = field(default_factory=list)  # recipient/open/click/bounce/block
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
        number = ascii_int(ref)
        if number is not None:
            return self.transaction_types.get(number)
        return next((t for t in self.transaction_types.values() if t.name == ref), None)

    def reset(self) -> None:
        keys = self.doi_keys
        fresh = Account(self.name, self.newsletter_account_id, doi_keys=keys)
        self.__dict__.update(fresh.__dict__)
