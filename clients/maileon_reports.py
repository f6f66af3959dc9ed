"""Maileon's per-contact engagement reports and mailing labels (F15; reference
maileon-engagement.md §1). Windows are half-open: `from_date` inclusive, `to_date` exclusive
(epoch ms). Rows are read tolerantly: what a row lacks stays empty and the caller decides."""

from __future__ import annotations

from dataclasses import dataclass

from defusedxml import ElementTree

from clients.digits import ascii_int
from clients.errors import NotFound, PermanentError
from clients.maileon import MaileonClient, parse_contact, path_segment

# report path -> row element (the PHP client's deserializer names)
REPORTS = {
    "recipients": "recipient",
    "opens": "open",
    "clicks": "click",
    "bounces": "bounce",
    "blocks": "block",
    "unsubscriptions": "unsubscription",
}
FIELDS = (
    "mailing_id",
    "timestamp",
    "msg_id",
    "link_url",
    "link_type",
    "link_id",
    "type",
    "status_code",
    "source",
    "reason",
    "new_status",
)


@dataclass
class ReportPage:
    rows: list[dict[str, str]]
    pages: int  # X-Pages (0 when absent)
    odd: int  # elements that are not the expected row


async def report_page(
    client: MaileonClient,
    report: str,
    *,
    from_ms: int,
    to_ms: int,
    page_index: int = 1,
    page_size: int = 1000,
    eids: list[str] | None = None,
) -> ReportPage:
    """One page of `GET /reports/<report>`."""
    row_tag = REPORTS[report]
    params: list[tuple[str, str]] = [
        ("from_date", str(from_ms)),
        ("to_date", str(to_ms)),
        ("page_index", str(page_index)),
        ("page_size", str(page_size)),
    ]
    params += [("eids", e) for e in eids or []]
    response = await client.request("GET", f"/reports/{report}", params=params)
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise PermanentError(f"Maileon answered the {report} report unreadably") from None
    rows, odd = [], 0
    for item in root:
        if item.tag != row_tag:
            odd += 1
            continue
        row = {name: (item.findtext(name) or "").strip() for name in FIELDS}
        row["contact_id"] = (item.findtext("contact/id") or "").strip()
        row["email"] = (item.findtext("contact/email") or "").strip()
        row["external_id"] = (item.findtext("contact/external_id") or "").strip()
        rows.append(row)
    pages = ascii_int(response.headers.get("X-Pages", "")) or 0
    return ReportPage(rows, pages, odd)


async def mailing_label(client: MaileonClient, mailing_id: str) -> tuple[str, str] | None:
    """(name, type) of a mailing; None when Maileon does not know it."""
    seg = path_segment(mailing_id)
    try:
        name = await client.request("GET", f"/mailings/{seg}/name")
        kind = await client.request("GET", f"/mailings/{seg}/type")
    except NotFound:
        return None
    return _text(name.content), _text(kind.content)


def _text(body: bytes) -> str:
    raw = body.strip()
    if raw.startswith(b"<"):
        try:
            return (ElementTree.fromstring(raw).text or "").strip()[:200]
        except ElementTree.ParseError:
            return ""
    return raw.decode("utf-8", "replace")[:200]


async def contact_standing(client: MaileonClient, email: str) -> tuple[int, str] | None:
    """(permission, SENDOUT_STATUS `allowed`/`blocked`) of the contact; None when unknown."""
    try:
        response = await client.request(
            "GET",
            f"/contacts/email/{path_segment(email)}",
            params=[("standard_field", "SENDOUT_STATUS")],
        )
    except NotFound:
        return None
    try:
        contact = parse_contact(ElementTree.fromstring(response.content))
    except ElementTree.ParseError:
        raise PermanentError("Maileon answered the contact unreadably") from None
    return int(contact["permission"]), str(contact["standard_fields"].get("SENDOUT_STATUS", ""))
