"""The sync health card in words (F13): the facts from sync/health.py, with the key's and the
webhooks' status as text, a tone for each, and the sync log as the admin reads it."""

from __future__ import annotations

from typing import Any

from sync.context import Context
from sync.health import WebhookCheck, health_facts
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


async def health(ctx: Context, company_id: int, failed_only: bool = False) -> dict[str, Any]:
    """What partials/health.html needs."""
    facts = await health_facts(ctx, company_id, failed_only)
    key_status = facts.pop("key_status")
    webhooks = facts.pop("webhooks")
    attention = facts.pop("attention_rows")
    waits, rows = facts.pop("waiting_rows"), facts.pop("log_rows")
    return {
        **facts,
        "key_tone": {"valid": "ok", "unset": ""}.get(key_status, "bad"),
        "key_status_text": KEY_STATUS.get(key_status, key_status),
        "webhook_text": webhook_text(webhooks),
        "attention": [words(r) for r in attention],
        "log": [words(w, waiting=True) for w in waits] + [words(r) for r in rows],
    }
