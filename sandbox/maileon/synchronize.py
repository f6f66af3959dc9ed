"""`POST /contacts`: synchronizing many contacts at once, with its report."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement  # building only

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.maileon.contacts import ContactRoutes
from sandbox.maileon.core import SimCore
from sandbox.maileon.gate import acc_of
from sandbox.maileon.model import Account, ApiError, valid_email
from sandbox.maileon.params import q_bool, q_int, q_permission
from sandbox.maileon.validation import custom_value, std_field_error
from sandbox.maileon.xmlio import contact_payload_from_xml, parse_xml, sub, xml_response

# Maileon documents no limit per synchronize call (reference §2.8, UNCONFIRMED); 1,000 is the
# largest page its reads allow and the batch the app sends. The simulator refuses more, so a
# larger batch from the app shows in the tests instead of passing only here.
MAX_SYNC_CONTACTS = 1000


class SynchronizeRoutes:
    """Bulk synchronize."""

    def __init__(self, contacts: ContactRoutes, core: SimCore) -> None:
        self.contacts = contacts
        self.core = core

    def routes(self) -> list[BaseRoute]:
        """Routes under `/1.0`."""
        return [
            Route("/contacts", self.synchronize, methods=["POST"]),
        ]

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
        if len(items) > MAX_SYNC_CONTACTS:
            raise ApiError(
                400, f"at most {MAX_SYNC_CONTACTS} contacts per call, but got {len(items)}"
            )
        # the request log names the addresses a synchronize call carried (tests count writes)
        request.scope["sim_emails"] = [str(i.get("email") or "") for i in items]
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
                self.sync_apply(
                    acc,
                    item,
                    std,
                    custom,
                    permission=permission,
                    sync_mode=sync_mode,
                    use_eid=use_eid,
                    reimport=reimport,
                    override=override,
                    update_only=update_only,
                    counts=counts,
                )
        report = self._report(len(items), invalid, counts)
        return xml_response(report, 400 if invalid and not ignore_invalid else 200)

    def _report(
        self, count: int, invalid: list[tuple[dict[str, Any], int, str]], counts: dict[str, int]
    ) -> Element:
        """The synchronize report: counts, and each invalid contact's error code and field."""
        report = Element("report")
        sub(report, "success", not invalid)
        sub(report, "count_contacts", count)
        sub(report, "count_new_contacts", counts["new"])
        sub(report, "count_existing_contacts", counts["existing"])
        sub(report, "count_unsubscribed_contacts", counts["unsubscribed"])
        sub(report, "count_invalid_contacts", len(invalid))
        invalid_el = SubElement(report, "invalid_contacts")
        for item, code, field_name in invalid:
            el = SubElement(invalid_el, self.core.invalid_contact_tag)
            if self.core.name_invalid_contacts:
                sub(el, "email", item.get("email") or None)
                sub(el, "external_id", item.get("external_id") or None)
            err = SubElement(el, "error")
            err.set("code", str(code))
            sub(err, "error_field", field_name)
        return report

    def sync_check(
        self,
        acc: Account,
        item: dict[str, Any],
        use_eid: bool,
        seen_emails: set[str],
        seen_eids: set[str],
    ) -> tuple[tuple[int, str] | None, dict[str, str | None], dict[str, Any]]:
        """(error code, field) of the first problem of one contact, else its checked standard
        and custom fields; a valid contact's address and external id count as seen."""
        email = item.get("email") or ""
        eid = item.get("external_id") or ""
        if use_eid:
            problem = _external_id_problem(acc, email, eid, seen_eids)
        else:
            problem = _email_problem(email, seen_emails)
        if problem is not None:
            return problem, {}, {}
        problem, std = _standard_fields(item)
        if problem is not None:
            return problem, {}, {}
        problem, custom = _custom_fields(acc, item)
        if problem is not None:
            return problem, {}, {}
        if email:
            seen_emails.add(email.lower())
        if eid:
            seen_eids.add(eid)
        return None, std, custom

    def sync_apply(
        self,
        acc: Account,
        item: dict[str, Any],
        std: dict[str, str | None],
        custom: dict[str, Any],
        *,
        permission: int,
        sync_mode: int | None,
        use_eid: bool,
        reimport: bool,
        override: bool,
        update_only: bool,
        counts: dict[str, int],
    ) -> None:
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
            c = self.contacts.new_contact(acc, email, permission, permission > 1, "synchronize")
            c.external_id = eid
            self.contacts.apply_fields(c, std, custom)
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
        self.contacts.apply_fields(existing, std, custom)
        if override:
            self.contacts.set_permission(
                acc, existing, permission, permission > 1, protect=False, source="synchronize"
            )
        existing.touch()
        existing.note("updated", source="synchronize")


def _external_id_problem(
    acc: Account, email: str, eid: str, seen_eids: set[str]
) -> tuple[int, str] | None:
    """By external id: one is needed, once per call; without an address it must exist."""
    if not eid:
        return (1, "external_id")
    if eid in seen_eids:
        return (4, "external_id")
    if email and not valid_email(email):
        return (3, "email")
    if not email and not acc.by_external_id(eid):
        return (2, "email")
    return None


def _email_problem(email: str, seen_emails: set[str]) -> tuple[int, str] | None:
    """By address: a valid one is needed, once per call (in any case)."""
    if not email:
        return (2, "email")
    if not valid_email(email):
        return (3, "email")
    if email.lower() in seen_emails:
        return (5, "email")
    return None


def _standard_fields(
    item: dict[str, Any],
) -> tuple[tuple[int, str] | None, dict[str, str | None]]:
    std: dict[str, str | None] = {}
    for name, value in item["standard_fields"].items():
        problem = std_field_error(name, value)
        if problem:
            return (problem[0], name), {}
        std[name] = value or None
    return None, std


def _custom_fields(
    acc: Account, item: dict[str, Any]
) -> tuple[tuple[int, str] | None, dict[str, Any]]:
    """Each must be one of the account's fields, with a value of its type (code 21)."""
    custom: dict[str, Any] = {}
    for name, value in item["custom_fields"].items():
        if name not in acc.custom_fields:
            return (21, name), {}
        try:
            custom[name] = custom_value(acc.custom_fields[name], name, value)
        except ApiError:
            return (21, name), {}
    return None, custom
