"""The filters of Maileon's engagement reports (`/reports/{recipients,opens,clicks,bounces,
blocks}`), read and checked from the query: the time window (`from_date` inclusive, `to_date`
exclusive, ms), `mailing_id`, a bounce's `type` and `status_code`, a block's `reasons`, the
contacts (`ids`, `eids`, `emails`) and whether anonymous opens and clicks are kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from sandbox.digits import ascii_int
from sandbox.maileon.model import ApiError
from sandbox.maileon.params import q_bool, q_int

Event = dict[str, Any]


@dataclass(frozen=True)
class ReportFilter:
    """Which events of one kind a report lists."""

    kind: str  # recipient, open, click, bounce, block
    from_date: int | None
    to_date: int | None
    mailings: set[str]
    bounce_type: str | None
    codes: set[str]
    reasons: set[str]
    ids: set[str]
    eids: set[str]
    emails: set[str]  # lower case
    keep_anonymous: bool

    @classmethod
    def of(cls, request: Request, kind: str) -> ReportFilter:
        """The report's filters; a malformed one is a 400."""
        q = request.query_params
        from_date = q_int(request, "from_date", None, 0)
        to_date = q_int(request, "to_date", None, 0)
        mailings = set(q.getlist("mailing_id"))
        for m in mailings:
            if ascii_int(m) is None:
                raise ApiError(400, f"mailing_id must be an integer but was {m}")
        bounce_type = q.get("type")
        if kind == "bounce" and bounce_type not in (None, "", "permanent", "transient"):
            raise ApiError(400, "type must be permanent or transient")
        return cls(
            kind=kind,
            from_date=from_date,
            to_date=to_date,
            mailings=mailings,
            bounce_type=bounce_type,
            codes=set(q.getlist("status_code")),
            reasons={r for raw in q.getlist("reasons") for r in raw.split(",") if r},
            ids=set(q.getlist("ids")),
            eids=set(q.getlist("eids")),
            emails={e.lower() for e in q.getlist("emails")},
            keep_anonymous=kind in ("open", "click")
            and not q_bool(request, f"exclude_anonymous_{kind}s", True),
        )

    @property
    def by_contact(self) -> bool:
        return bool(self.ids or self.eids or self.emails)

    def keeps(self, e: Event, anonymous: bool) -> bool:
        """Whether the report lists this event (`anonymous`: not tied to its contact)."""
        if anonymous and (self.by_contact or not self.keep_anonymous):
            return False
        return not self.by_contact or self._of_contacts(e)

    def keeps_event(self, e: Event) -> bool:
        """The event's kind, time, mailing, bounce type, status code and reason fit."""
        return (
            e["kind"] == self.kind
            and self._in_window(e["timestamp"])
            and (not self.mailings or str(e["mailing_id"]) in self.mailings)
            and not (self.kind == "bounce" and self.bounce_type and e["type"] != self.bounce_type)
            and (not self.codes or e.get("status_code") in self.codes)
            and (not self.reasons or e.get("reason") in self.reasons)
        )

    def _in_window(self, timestamp: int) -> bool:
        if self.from_date is not None and timestamp < self.from_date:
            return False
        return self.to_date is None or timestamp < self.to_date

    def _of_contacts(self, e: Event) -> bool:
        return (
            str(e["contact_id"]) in self.ids
            or (e["external_id"] is not None and e["external_id"] in self.eids)
            or (e["email"] or "").lower() in self.emails
        )
