"""`pipedrive-maileon check`: read-only probes of every Maileon call shape the app relies on.

An operator runs it on day one against the real account (reference: maileon-api.md). Nothing is
written: /ping in each method, GET /contacts/fields/custom, GET /contacts/email/{an address
that does not exist}, GET /transactions/types, GET /webhooks. Each probe gives one line, OK or what
differs from what the app expects; any difference makes the command exit non-zero. A list that
is empty shows nothing of its shape, so it passes no probe: the line says EMPTY and points to
`check --write`, which writes on throwaway names (clients/check_write.py) and reads them back.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import httpx
from defusedxml import ElementTree

from clients.check_write import WRITE_PROBES, run_write_probes
from clients.errors import ApiError, Forbidden, NotFound, Unauthorized
from clients.maileon import MaileonClient, path_segment
from clients.probe import Probe

EMPTY = "empty:"  # a probe answer that proves nothing: the list it read was empty


async def run_probes(http: httpx.AsyncClient, base_url: str, api_key: str) -> list[Probe]:
    """All probes in order; once the key is refused the rest are not tried."""
    maileon = MaileonClient(http, base_url, api_key)
    probes: list[tuple[str, Callable[[MaileonClient], Awaitable[str | None]]]] = [
        ("ping", _ping),
        ("custom field list", _custom_fields),
        ("contact lookup (unknown address)", _unknown_contact),
        ("transaction type list", _transaction_types),
        ("webhook list", _webhooks),
    ]
    results: list[Probe] = []
    for name, probe in probes:
        try:
            problem = await probe(maileon)
        except Unauthorized as exc:
            results.append(Probe(name, False, exc.message, refused=True))
            break
        except ApiError as exc:
            results.append(Probe(name, False, exc.message))
            continue
        if problem and problem.startswith(EMPTY):
            detail = problem.removeprefix(EMPTY).strip()
            results.append(Probe(name, False, detail, empty=True))
            continue
        results.append(
            Probe(
                name,
                problem is None or problem.startswith("ok:"),
                (problem or "ok:as expected").removeprefix("ok:").strip(),
            )
        )
    return results


def _empty(what: str) -> str:
    return f"{EMPTY} no {what} to look at, so their shape is not checked (run check --write)"


async def _ping(maileon: MaileonClient) -> str | None:
    """/ping in each method the app uses (a ping writes nothing; it tests the privilege)."""
    lacking = []
    for method in ("GET", "POST", "PUT", "DELETE"):
        try:
            await maileon.ping(method)
        except Forbidden:
            lacking.append(method)
    if lacking:
        return f"the key lacks the privilege for {', '.join(lacking)} (the app needs all four)"
    return "ok: the key may GET, POST, PUT and DELETE"


def _xml_root(response: httpx.Response, root: str, child: str) -> tuple[str | None, int]:
    """(what differs, number of `child` elements) for an XML list answer."""
    ctype = response.headers.get("content-type", "")
    if "xml" not in ctype:
        return f"expected XML but got {ctype or 'no content type'}", 0
    try:
        element = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        return "the XML could not be read", 0
    if element.tag != root:
        return f"expected <{root}> but the answer is <{element.tag}>", 0
    items = element.findall(child)
    if any(item.findtext("name") is None for item in items):
        return f"a <{child}> without <name>", len(items)
    return None, len(items)


async def _custom_fields(maileon: MaileonClient) -> str | None:
    response = await maileon.request("GET", "/contacts/fields/custom")
    problem, count = _xml_root(response, "custom_fields", "custom_field")
    return problem or (f"ok: {count} custom fields" if count else _empty("custom fields"))


async def _unknown_contact(maileon: MaileonClient) -> str | None:
    email = f"pipedrive-maileon-check-{secrets.token_hex(6)}@example.com"
    try:
        await maileon.request("GET", f"/contacts/email/{path_segment(email)}")
    except NotFound:
        return "ok: 404 for an address that does not exist (the app creates only then)"
    return "expected 404 for an address that does not exist, but Maileon answered 2xx"


async def _transaction_types(maileon: MaileonClient) -> str | None:
    response = await maileon.request(
        "GET", "/transactions/types", params={"page_index": "1", "page_size": "10"}
    )
    problem, count = _xml_root(response, "transaction_types", "transaction_type")
    if problem or not count:
        return problem or _empty("transaction types")
    return f"ok: {count} transaction types on the first page"


async def _webhooks(maileon: MaileonClient) -> str | None:
    response = await maileon.request("GET", "/webhooks", accept="application/json")
    try:
        body = response.json()
    except ValueError:
        return "expected a JSON array but the answer is not JSON"
    if not isinstance(body, list):
        return f"expected a JSON array but got a JSON {type(body).__name__}"
    if not body:
        return _empty("webhooks")
    if not all(isinstance(w, dict) and "url" in w and "event" in w for w in body):
        return "a webhook without `url` or `event`"
    return f"ok: {len(body)} webhooks"


READ_PROBES = 5


async def check(base_url: str, api_key: str, write: bool = False) -> tuple[list[str], int]:
    """The lines to print and the exit status (0 when no probe differs). With `write`, the
    write probes run after the read-only ones (unless the key was refused)."""
    expected = READ_PROBES + (WRITE_PROBES if write else 0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
        if write:  # the read-only probes run while the lists hold what the check made
            results = await run_write_probes(
                http, base_url, api_key, meanwhile=lambda: run_probes(http, base_url, api_key)
            )
        else:
            results = await run_probes(http, base_url, api_key)
    refused = next((r for r in results if r.refused), None)
    if refused is not None:
        return [
            f"Maileon at {base_url} refused the API key ({refused.detail}); nothing was "
            "checked. Use a valid key (Maileon: Settings → API keys)."
        ], 1
    lines = [f"Maileon at {base_url}", *(r.line() for r in results)]
    passed = sum(r.ok for r in results)
    empty = sum(r.empty for r in results)
    failed = expected - passed - empty
    if failed:
        lines.append(f"{failed} of {expected} checks differ from what the app expects.")
    elif empty:
        lines.append(
            f"{passed} of {expected} calls are as the app expects; {empty} read an empty list "
            "and prove nothing: run check --write before turning sync on."
        )
    else:
        lines.append("All calls are as the app expects.")
    return lines, 0 if not failed else 1
