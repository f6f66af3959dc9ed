"""Maileon webhooks as `GET /webhooks` lists them (reference §6.2): which key casing the
list answers with is UNCONFIRMED (`urlParams` as posted, or `url_params`, field names in
either letter case), so they are read with their keys folded."""

from __future__ import annotations

from typing import Any

from clients.digits import ascii_int


def folded(item: Any) -> dict[str, Any]:
    """A webhook (or URL parameter) as Maileon lists it, its keys folded: `urlParams`,
    `url_params` and `URLPARAMS` read alike. Which casing `GET /webhooks` answers with is
    UNCONFIRMED (reference §6.2); reading only one would make every reconciliation delete and
    re-create the webhooks."""
    if not isinstance(item, dict):
        return {}
    return {str(k).replace("_", "").lower(): v for k, v in item.items()}


def hook_url(hook: dict[str, Any]) -> str:
    return str(folded(hook).get("url") or "")


def hook_id(hook: dict[str, Any]) -> int | None:
    value = str(folded(hook).get("id", ""))
    return ascii_int(value)


def webhook_matches(hook: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Same URL (ignoring any query Maileon may echo back), event, and the current token;
    keys in either casing, field names in any letter case."""
    h = folded(hook)
    params = {
        str(p.get("name")): p
        for p in (folded(x) for x in h.get("urlparams") or [])
        if p.get("name") is not None
    }

    def standard(name: str) -> str:
        return str((params.get(name) or {}).get("standardcontactfield") or "").lower()

    return (
        hook_url(hook).split("?", 1)[0] == wanted["url"]
        and str(h.get("event") or "").lower() == wanted["event"]
        and (params.get("token") or {}).get("customvalue") == wanted["urlParams"][2]["custom_value"]
        and standard("email") == "email"
        and standard("eid") == "external_id"
    )
