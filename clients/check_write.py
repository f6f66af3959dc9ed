"""`pipedrive-maileon check --write`: probes that write, on throwaway names, what the app's
writes rely on, and delete what they made.

The read-only probes (clients/check.py) cannot tell how Maileon answers a write. These create
a contact at a throwaway address, create it again (ignored), update it without a permission,
clear a field, synchronize one valid and one invalid address, re-post a custom field and a
transaction type, send a transaction for an existing and for a missing contact, create a
webhook and read the list back, then delete everything they made. Each probe gives one line:
OK (saying which of the answers the sources allow this account gives, where the reference is
UNCONFIRMED) or DIFF (what the app would do wrong here). A list that comes back empty right
after the probe wrote into it passes nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring  # building only

import httpx
from defusedxml import ElementTree

from clients.errors import ApiError, NotFound, Unauthorized
from clients.maileon import JSON_CONTACT, MaileonClient, parse_contact, path_segment
from clients.maileon_webhooks import hook_id, hook_url, webhook_matches
from clients.probe import Probe

DOMAIN = "example.com"  # reserved for examples (RFC 2606): no mail reaches anyone


@dataclass
class Made:
    """Names of what the probes created, so the last probe deletes exactly those."""

    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    emails: list[str] = field(default_factory=list)
    custom_field: str = ""
    type_name: str = ""
    webhook_id: int | None = None

    def address(self, role: str) -> str:
        return f"pipedrive-maileon-check-{self.tag}-{role}@{DOMAIN}"


ProbeFn = Callable[[MaileonClient, Made], Awaitable[str]]


async def run_write_probes(
    http: httpx.AsyncClient,
    base_url: str,
    api_key: str,
    meanwhile: Callable[[], Awaitable[list[Probe]]] | None = None,
) -> list[Probe]:
    """All write probes in order, then `meanwhile` (the read-only probes, which so read lists
    that hold what these made), then the clean-up, which always runs. A refused key stops the
    rest (except the clean-up)."""
    maileon = MaileonClient(http, base_url, api_key)
    made = Made()
    probes: list[tuple[str, ProbeFn]] = [
        ("create a contact", _create),
        ("create again (sync_mode=2)", _create_again),
        ("update without permission", _update_without_permission),
        ("clear a field", _clear_field),
        ("synchronize a valid and an invalid address", _synchronize),
        ("address change onto an existing address", _rename_conflict),
        ("custom field posted again", _custom_field_again),
        ("transaction type posted again", _type_again),
        ("transaction for an existing contact", _transaction_existing),
        ("transaction for a missing contact", _transaction_missing),
        ("webhook list read back", _webhook_read_back),
    ]
    results: list[Probe] = []
    for name, probe in probes:
        result = await _run(name, probe, maileon, made)
        results.append(result)
        if result.refused:
            break
    else:
        if meanwhile is not None:
            results += await meanwhile()
    results.append(await _run("delete what the check made", _clean_up, maileon, made))
    return results


WRITE_PROBES = 12  # the lines run_write_probes gives when every probe runs


async def _run(name: str, probe: ProbeFn, maileon: MaileonClient, made: Made) -> Probe:
    try:
        answer = await probe(maileon, made)
    except Unauthorized as exc:
        return Probe(name, False, exc.message, refused=True)
    except ApiError as exc:
        return Probe(name, False, f"Maileon answered {exc.status or 'no status'}: {exc.message}")
    ok = answer.startswith("ok:")
    return Probe(name, ok, answer.removeprefix("ok:").strip())


# --- contacts ------------------------------------------------------------------------------------
async def _post_contact(maileon: MaileonClient, email: str, first: str, permission: int = 1) -> int:
    response = await maileon.request(
        "POST",
        f"/contacts/email/{path_segment(email)}",
        params={"permission": str(permission), "sync_mode": "2", "src": "pipedrive-maileon-check"},
        content=json.dumps(
            {"standard_fields": {"FIRSTNAME": first, "LASTNAME": "Check"}, "custom_fields": {}}
        ).encode(),
        content_type=JSON_CONTACT,
    )
    return response.status_code


async def _read(maileon: MaileonClient, email: str) -> dict[str, Any] | None:
    try:
        response = await maileon.request(
            "GET",
            f"/contacts/email/{path_segment(email)}",
            params=[
                ("standard_field", "FIRSTNAME"),
                ("standard_field", "LASTNAME"),
                ("standard_field", "PERMISSION_STATUS"),
            ],
        )
    except NotFound:
        return None
    try:
        return parse_contact(ElementTree.fromstring(response.content))
    except ElementTree.ParseError:
        return {"unreadable": True}


def _first(contact: dict[str, Any]) -> str:
    return str(contact.get("standard_fields", {}).get("FIRSTNAME") or "")


async def _create(maileon: MaileonClient, made: Made) -> str:
    email = made.address("a")
    made.emails.append(email)
    status = await _post_contact(maileon, email, "Probe")
    contact = await _read(maileon, email)
    if contact is None or contact.get("unreadable"):
        return f"created ({status}) but the contact cannot be read back by its address"
    if status != 201:
        return f"a new contact was answered {status}, not 201: the app would think it existed"
    if contact["permission"] != 1 or _first(contact) != "Probe":
        return (
            f"read back with permission {contact['permission']} and FIRSTNAME "
            f"{_first(contact)!r}, not NONE and 'Probe'"
        )
    return "ok: 201 Created, read back with permission NONE and its fields"


async def _create_again(maileon: MaileonClient, made: Made) -> str:
    email = made.address("a")
    status = await _post_contact(maileon, email, "Overwritten")
    contact = await _read(maileon, email)
    if contact is None:
        return "the contact is gone after a create with sync_mode=2"
    if _first(contact) != "Probe":
        return (
            "sync_mode=2 (ignore) changed an existing contact: the app's batch of new "
            "contacts would overwrite data of contacts Maileon already had"
        )
    if status == 201:
        return (
            "ok: this account answers 201 to an ignored create (as to a real one); the app "
            "confirms createdByPipedrive before it deletes any contact"
        )
    return f"ok: this account answers {status} to an ignored create; the contact is unchanged"


async def _put(maileon: MaileonClient, email: str, body: dict[str, Any], **params: str) -> None:
    await maileon.request(
        "PUT",
        f"/contacts/email/{path_segment(email)}",
        params=params or None,
        content=json.dumps(body).encode(),
        content_type=JSON_CONTACT,
    )


async def _update_without_permission(maileon: MaileonClient, made: Made) -> str:
    email = made.address("a")
    await _put(maileon, email, {}, permission="2")  # a consent the data update must keep
    await _put(maileon, email, {"standard_fields": {"FIRSTNAME": "Updated"}})
    contact = await _read(maileon, email)
    if contact is None:
        return "the contact is gone after an update"
    if contact["permission"] != 2:
        return (
            f"an update without permission changed SOI to permission {contact['permission']}: "
            "every data sync would change consent"
        )
    if _first(contact) != "Updated":
        return f"the update was not applied (FIRSTNAME is {_first(contact)!r})"
    if contact["standard_fields"].get("LASTNAME") != "Check":
        return "a field left out of the update was cleared: the app omits unchanged fields"
    return "ok: data updated, permission and omitted fields kept"


async def _clear_field(maileon: MaileonClient, made: Made) -> str:
    email = made.address("a")
    await _put(maileon, email, {"standard_fields": {"FIRSTNAME": ""}})
    contact = await _read(maileon, email)
    if contact is None:
        return "the contact is gone after clearing a field"
    if _first(contact):
        return (
            f'FIRSTNAME sent as "" kept {_first(contact)!r}: values emptied in Pipedrive '
            "would stay in Maileon"
        )
    return 'ok: a field sent as "" is cleared'


async def _synchronize(maileon: MaileonClient, made: Made) -> str:
    valid, invalid = made.address("b"), f"pipedrive-maileon-check-{made.tag}-invalid"
    made.emails.append(valid)
    root = Element("contacts")
    for email in (valid, invalid):
        SubElement(SubElement(root, "contact"), "email").text = email
    response = await maileon.request(
        "POST",
        "/contacts",
        params={
            "permission": "1",
            "sync_mode": "2",
            "use_external_id": "false",
            "ignore_invalid_contacts": "true",
            "reimport_unsubscribed_contacts": "false",
            "override_permission": "false",
        },
        content=tostring(root, encoding="utf-8"),
    )
    try:
        report = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        return "the synchronize report is not readable XML: the app counts no batch as imported"
    if report.find(".//count_contacts") is None:
        return (
            f"the report <{report.tag}> has no count_contacts: the app counts no batch as imported"
        )
    container = report.find(".//invalid_contacts")
    refused = list(container) if container is not None else []
    tags = sorted({child.tag for child in refused})
    listed = [c for c in refused if (c.findtext("email") or "").strip() == invalid]
    if not listed:
        return (
            "the invalid address is not listed under <invalid_contacts>: the app could not "
            "tell which contact was refused"
        )
    if await _read(maileon, valid) is None:
        return "the valid address was not created"
    error = listed[0].find("error")
    code = error.get("code", "?") if error is not None else "?"
    return (
        f"ok: report <{report.tag}>, the refused address listed as <{', '.join(tags)}> "
        f"(error code {code}), the valid one created"
    )


async def _rename_conflict(maileon: MaileonClient, made: Made) -> str:
    """An email change in Pipedrive onto an address Maileon has already (made by the
    synchronize probe): the app moves the contact with PUT and a new `email`."""
    old, taken = made.address("a"), made.address("b")
    try:
        await _put(maileon, old, {"email": taken})
    except ApiError as exc:
        if exc.status not in (400, 409):
            return f"answered {exc.status}: the app expects 409 or 400 for an address taken"
        if await _read(maileon, old) is None or await _read(maileon, taken) is None:
            return f"answered {exc.status} but a contact is gone"
        return f"ok: this account answers {exc.status}, which the app takes; both contacts kept"
    return "the move onto a taken address was accepted: two contacts may now share it"


# --- custom fields and transaction types ---------------------------------------------------------
async def _custom_field_again(maileon: MaileonClient, made: Made) -> str:
    made.custom_field = f"pmcheck_{made.tag}"
    first = await maileon.create_custom_field(made.custom_field, "string")
    second = await maileon.create_custom_field(made.custom_field, "string")  # must not raise
    fields = await maileon.custom_fields()
    if not fields:
        return "the custom field list is empty right after a field was created"
    if fields.get(made.custom_field) != "string":
        return "the field just created is not in the custom field list with type string"
    if second < 300:
        return f"posted again it was answered {second} (created twice?): the app expects 409 or 400"
    return f"ok: created ({first}); posted again this account answers {second}, which the app takes"


TYPE_ATTRIBUTES = [("deal_id", "integer", False), ("title", "string", False)]


async def _type_again(maileon: MaileonClient, made: Made) -> str:
    made.type_name = f"pipedrive_check_{made.tag}"
    first = await maileon.create_transaction_type(made.type_name, "check", TYPE_ATTRIBUTES)
    second = await maileon.create_transaction_type(made.type_name, "check", TYPE_ATTRIBUTES)
    if await maileon.transaction_type(made.type_name) is None:
        return "the type just created cannot be read by its name"
    listed = await maileon.request(
        "GET", "/transactions/types", params={"page_index": "1", "page_size": "1000"}
    )
    names = [
        (t.findtext("name") or "").strip()
        for t in ElementTree.fromstring(listed.content).iter("transaction_type")
    ]
    if made.type_name not in names:
        return "the type list does not show the type just created"
    if second < 300:
        return f"posted again it was answered {second} (a second type?): the app expects 409/400"
    return f"ok: created ({first}); posted again this account answers {second}, which the app takes"


async def _transaction_existing(maileon: MaileonClient, made: Made) -> str:
    report = await maileon.send_transaction(
        made.type_name, email=made.address("a"), content={"deal_id": 1, "title": "check"}
    )
    if report.get("queued") not in (True, "true"):
        return f"not queued for an existing contact: {report.get('message') or 'no reason'}"
    return "ok: queued for the existing contact"


async def _transaction_missing(maileon: MaileonClient, made: Made) -> str:
    email = made.address("missing")
    report = await maileon.send_transaction(
        made.type_name, email=email, content={"deal_id": 2, "title": "check"}
    )
    if await _read(maileon, email) is not None:
        made.emails.append(email)
        return "a transaction created a missing contact: it could re-create unsubscribed ones"
    if report.get("queued") in (True, "true"):
        return "queued for a contact that does not exist; the app reads that as sent"
    message = str(report.get("message") or "")
    if "not found" not in message.lower() and "not exist" not in message.lower():
        return (
            f"refused with {message!r}: the app expects a message saying the contact is not "
            "found, to create it first"
        )
    return f"ok: not queued ({message}), no contact created"


# --- webhooks ------------------------------------------------------------------------------------
async def _webhook_read_back(maileon: MaileonClient, made: Made) -> str:
    url = f"https://{DOMAIN}/webhooks/maileon/0/doi"
    token = secrets.token_urlsafe(24)
    spec = {
        "url": url,
        "event": "doi",
        "urlParams": [
            _param("email", "email", None),
            _param("eid", "external_id", None),
            _param("token", None, token),
        ],
        "customFields": [],
        "standardFields": ["email", "external_id"],
        "eventFields": ["timestamp", "msg_id"],
    }
    made.webhook_id = await maileon.create_webhook(spec)
    hooks = await maileon.list_webhooks()
    if not hooks:
        return "the webhook list is empty right after a webhook was created"
    ours = [h for h in hooks if hook_url(h).split("?", 1)[0] == url]
    if not ours:
        return "the webhook just created is not in the list (by its URL)"
    made.webhook_id = made.webhook_id or hook_id(ours[0])
    if not any(webhook_matches(h, spec) for h in ours):
        return (
            "read back, its URL parameters do not match what was sent: the app would delete "
            "and re-create its webhooks on every reconciliation"
        )
    keys = sorted(k for k in ours[0] if str(k).replace("_", "").lower() == "urlparams")
    return f"ok: found and recognised (URL parameters under {', '.join(keys) or '?'})"


def _param(name: str, standard: str | None, value: str | None) -> dict[str, Any]:
    """A URL parameter as the app registers it (sync/syncback.webhook_spec)."""
    return {
        "name": name,
        "standard_contact_field": standard,
        "custom_contact_field": None,
        "custom_value": value,
    }


# --- clean-up ------------------------------------------------------------------------------------
async def _clean_up(maileon: MaileonClient, made: Made) -> str:
    left: list[str] = []
    statuses: set[int] = set()

    async def delete(path: str, what: str) -> None:
        try:
            response = await maileon.request("DELETE", path, accept="application/json")
            statuses.add(response.status_code)
        except NotFound:
            return
        except ApiError as exc:
            left.append(f"{what} ({exc.status})")

    if made.webhook_id is not None:
        await delete(f"/webhooks/{made.webhook_id}", f"webhook {made.webhook_id}")
    for email in made.emails:
        await delete(f"/contacts/email/{path_segment(email)}", email)
        if await _read(maileon, email) is not None:
            left.append(email)
    if made.type_name:
        await delete(f"/transactions/types/{path_segment(made.type_name)}", made.type_name)
    if made.custom_field:
        await delete(f"/contacts/fields/custom/{path_segment(made.custom_field)}", "custom field")
    if left:
        return f"left behind (delete by hand): {', '.join(left)}"
    if not made.emails:
        return "nothing was made, so nothing was deleted"
    codes = "/".join(str(s) for s in sorted(statuses))
    return f"ok: everything deleted (answered {codes}); a deleted contact reads 404"
