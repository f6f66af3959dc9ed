"""Constants, the simulator's records (installations, tokens, events, jobs), its error."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SCOPES = "base,admin,contacts:full,deals:read"
SCOPE_DESCRIPTIONS = [
    ("base", "Read your user and company data"),
    ("admin", "Manage webhooks and custom fields (admin rights)"),
    ("contacts:full", "Read, create, edit and delete persons and organizations"),
    ("deals:read", "Read deals"),
]
TOKEN_EXPIRES_IN = 3599
CODE_TTL = 300.0
RETRY_DELAYS = (3.0, 30.0, 150.0)
BAN_THRESHOLD = 10
BAN_SECONDS = 1800.0
DELIVERY_TIMEOUT = 10.0
WEBHOOKS_PER_USER = 40
MAX_LIMIT = 500

V2_ACTIONS = {"create", "change", "delete", "*"}
V1_ACTIONS = {"added", "updated", "deleted", "merged", "*"}
EVENT_OBJECTS = {
    "activity",
    "deal",
    "lead",
    "note",
    "organization",
    "person",
    "pipeline",
    "product",
    "stage",
    "user",
    "*",
}
V1_OF_V2 = {"create": "added", "change": "updated", "delete": "deleted"}
FIELD_TYPES = {
    "address",
    "date",
    "daterange",
    "double",
    "enum",
    "monetary",
    "org",
    "people",
    "phone",
    "set",
    "text",
    "time",
    "timerange",
    "user",
    "varchar",
    "varchar_auto",
    "visible_to",
}
TEXT_TYPES = {"varchar", "varchar_auto", "text", "phone", "time"}
ID_TYPES = {"user", "org", "people"}
STANDARD_PERSON_FIELDS = [
    ("name", "Name", "varchar"),
    ("first_name", "First name", "varchar"),
    ("last_name", "Last name", "varchar"),
    ("email", "Email", "varchar"),
    ("phone", "Phone", "phone"),
    ("org_id", "Organization", "org"),
    ("owner_id", "Owner", "user"),
    ("add_time", "Person created", "date"),
    ("update_time", "Update time", "date"),
    ("visible_to", "Visible to", "visible_to"),
]
PERSON_LABELS = ("Customer", "Hot lead", "Supplier", "Colleague")
DEMO_FIELDS: list[tuple[str, str, list[str] | None]] = [
    ("Birthday note", "varchar", None),
    ("Score", "double", None),
    ("Budget", "monetary", None),
    ("Next call", "date", None),
    ("Tier", "enum", ["Gold", "Silver", "Bronze"]),
    ("Interests", "set", ["News", "Events", "Offers"]),
    ("Mobile", "phone", None),
    ("Office", "address", None),
]
# A company's deal custom fields (deal fields are their own list in Pipedrive, `/dealFields`).
DEMO_DEAL_FIELDS: list[tuple[str, str, list[str] | None]] = [
    ("Deal source", "enum", ["Web", "Referral", "Event"]),
    ("Products", "set", ["Basic", "Pro", "Enterprise"]),
    ("Seats", "double", None),
    ("Contract value", "monetary", None),
    ("Renewal date", "date", None),
    ("Partner", "org", None),
    ("Deal note", "varchar", None),
]


class ApiError(Exception):
    """An error answer; raised anywhere below a route and turned into a JSON response."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error") or body.get("message"))
        self.status = status
        self.body = body


@dataclass
class Installation:
    id: int
    company_id: int
    user_id: int
    refresh_token: str
    active: bool = True


@dataclass
class AccessToken:
    token: str
    install_id: int
    company_id: int
    user_id: int
    issued_at: float
    expires_at: float
    revoked: bool = False


@dataclass
class Auth:
    token: str
    company_id: int
    user_id: int


@dataclass
class Event:
    id: str
    correlation_id: str
    company_id: int
    entity: str
    entity_id: int
    v2_action: str | None
    v1_action: str | None
    change_source: str
    user_id: int
    timestamp: datetime
    v2_data: Any = None
    v2_previous: Any = None
    v1_current: Any = None
    v1_previous: Any = None
    merged_to_id: int | None = None
    merged_from_id: int | None = None


@dataclass
class Job:
    id: int
    webhook_id: int
    event: Event
    attempts: list[int] = field(default_factory=list)


ADMIN_APPS = ("sales", "global")  # admin of the CRM itself; other apps are Campaigns, Projects, …


def default_access(admin: bool) -> list[dict[str, Any]]:
    """`access[]` of `GET /users/me` as the OAS example shows it: rights per Pipedrive app."""
    return [
        {
            "app": app,
            "admin": admin,
            "permission_set_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{app}{admin}")),
        }
        for app in ("sales", "global", "account_settings")
    ]
