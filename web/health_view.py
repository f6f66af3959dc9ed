"""The sync health card in words (F13): the facts from sync/health.py, with the key's and the
webhooks' status as text, a tone for each, and the sync log as the admin reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store import engagement, tenants
from sync.engine.context import Context
from sync.health import WebhookCheck, health_facts
from web import field_mapping
from web.log_words import words

KEY_STATUS = {
    "unset": "not set",
    "valid": "valid",
    "invalid": "rejected by Maileon",
    "forbidden": "lacks privileges",
}


def webhook_text(check: WebhookCheck) -> str:
    if check.error:
        return f"could not be checked: {check.error}"
    if not check.wanted:
        return "none needed (sync is off)"
    if not check.missing:
        return f"all {check.wanted} present"
    return f"{check.missing} of {check.wanted} missing (they are re-created automatically)"


@dataclass(frozen=True)
class Status:
    """The one line at the top of the settings page: does sync work, what needs attention,
    and what to do (a link to the section where it is done)."""

    tone: str  # ok | warn | bad | idle
    headline: str
    todo: str = ""
    href: str = ""
    link: str = ""


def status_line(facts: dict[str, Any], key_status: str, webhooks: WebhookCheck) -> Status:
    """The most pressing thing first: a stopped sync, then an outage, then failures."""
    return (
        _stopped(facts, key_status)
        or _waiting(facts)
        or _failing(facts)
        or _webhooks_missing(webhooks)
        or Status("ok", "Sync works.", "Nothing needs your attention.")
    )


def _stopped(facts: dict[str, Any], key_status: str) -> Status | None:
    """The database, the authorization, the Maileon key, or sync turned off."""
    if facts.get("worker_trouble"):
        return Status(
            "bad",
            "Sync is stalled: the app cannot write to its database.",
            "Received changes are kept and sent when it works again; tell whoever runs the app "
            "(the disk may be full).",
        )
    reauth = [i for i in facts["installations"] if i["status"] != "active"]
    if len(reauth) == len(facts["installations"]) and reauth:
        return Status(
            "bad",
            "Sync is stopped: Pipedrive's authorization has ended.",
            "Re-authorize the app; waiting changes are sent by themselves then.",
            "/oauth/install",
            "Re-authorize",
        )
    if key_status in ("invalid", "forbidden"):
        why = "rejects the API key" if key_status == "invalid" else "says the API key lacks rights"
        return Status(
            "bad",
            f"Sync is stopped: Maileon {why}.",
            "Paste a valid key under Settings; the changes that failed are sent by themselves.",
            "#settings",
            "Go to Settings",
        )
    if key_status == "unset" or not facts["sync_on"]:
        return Status(
            "idle",
            "Sync is off.",
            "Enter a Maileon API key and turn on Contacts or Deals sync under Settings.",
            "#settings",
            "Go to Settings",
        )
    return None


def _waiting(facts: dict[str, Any]) -> Status | None:
    """An outage or a rate limit: changes wait for the service."""
    if facts["outages"]:
        services = " and ".join(o.service for o in facts["outages"])
        waiting = sum(o.waiting for o in facts["outages"])
        plural = "change waits" if waiting == 1 else "changes wait"
        limited = all(o.rate_limited for o in facts["outages"])
        what = "is limiting requests (rate limit)" if limited else "does not answer"
        return Status(
            "warn",
            f"Sync is waiting: {services} {what}" + (f"; {waiting} {plural}." if waiting else "."),
            "Nothing is lost: changes are sent by themselves when it answers again.",
        )
    return None


def _failing(facts: dict[str, Any]) -> Status | None:
    """Changes that failed, persons that need someone."""
    failed, attention = facts["failed_count"], facts["attention_count"]
    if failed or attention:
        parts = []
        if failed:
            parts.append(f"{failed} {'change' if failed == 1 else 'changes'} failed")
        if attention:
            parts.append(f"{attention} {'person needs' if attention == 1 else 'persons need'} you")
        return Status(
            "warn",
            "Sync works, but " + " and ".join(parts) + ".",
            "See the reasons in the Log" + (" and retry." if failed else "."),
            "?log=failed#log" if failed else "#log",
            "Open the Log",
        )
    return None


def _webhooks_missing(webhooks: WebhookCheck) -> Status | None:
    if webhooks.missing:
        return Status(
            "warn",
            f"Sync works, but {webhooks.missing} of {webhooks.wanted} Pipedrive webhooks "
            "are missing.",
            "They are re-created automatically within minutes.",
        )
    return None


async def health(ctx: Context, company_id: int, failed_only: bool = False) -> dict[str, Any]:
    """What partials/health.html needs."""
    facts = await health_facts(ctx, company_id, failed_only)
    key_status = facts.pop("key_status")
    webhooks = facts.pop("webhooks")
    attention = facts.pop("attention_rows")
    waits, rows = facts.pop("waiting_rows"), facts.pop("log_rows")
    base = str((tenants.company(ctx.store, company_id) or {}).get("api_domain") or "")
    return {
        **facts,
        "status": status_line(facts, key_status, webhooks),
        "key_tone": {"valid": "ok", "unset": ""}.get(key_status, "bad"),
        "key_status_text": KEY_STATUS.get(key_status, key_status),
        "webhook_text": webhook_text(webhooks),
        "attention": [words(r, base=base) for r in attention],
        "engagement_warning": engagement.get_settings(ctx.store, company_id).warning,
        "log": [words(w, waiting=True, base=base) for w in waits]
        + [words(r, base=base) for r in rows],
        "mapping_warnings": await field_mapping.warnings(ctx, company_id),  # F16
    }
