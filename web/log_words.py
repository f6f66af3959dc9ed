"""The sync log in the admin's words: who or what a line is about, where it went, and whether
it needs them. Lines come from store.synclog (via sync/health.py); this only words them (an
ended import's or rules run's counts through web/run_words.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from clients.digits import ascii_int
from web.run_words import log_text

# "Ada Lovelace (#5): updated …" or 'deal "Big deal" (#12): …': the label the rules put first.
LABEL = re.compile(r"^(?P<label>[^\n]{1,200}?) \(#(?P<id>[0-9]{1,16})\): ")
DEAL_LABEL = re.compile(r'^deal "(?P<title>.*)"$', re.DOTALL)

ROUTINE = {
    "periodic.webhooks": "Pipedrive webhooks check",
    "periodic.sweep": "Check for missed Pipedrive changes",
    "periodic.tokens": "Pipedrive authorization refresh",
    "periodic.prune": "Clean-up of old log lines",
    "periodic.reconcile": "Check for missed Maileon unsubscribes",
    "import": "Import of existing contacts",
    "rules": "Sync rules",
}
# A skipped run of these means something an admin must fix (an authorization to renew).
NEEDS_ACTION_WHEN_SKIPPED = {"periodic.tokens"}
RESULTS = {
    "ok": "Done",
    "skipped": "Skipped",
    "failed": "Failed",
    "attention": "Needs attention",
    "waiting": "Waiting to retry",
    "retrying": "Retrying",
}


@dataclass
class LogLine:
    at: float
    subject: str  # "Ada Lovelace → Maileon"
    text: str  # "updated", the reason, or the error
    result: str  # ok | skipped | failed | attention | waiting: the row's class
    result_text: str
    job_id: int | None
    can_retry: bool  # a failed job that is failed now
    next_try: float | None = None
    url: str = ""  # the person or deal in Pipedrive

    @property
    def about(self) -> str:
        """Who or what, without where it went: "Ada Lovelace"."""
        return self.subject.split(" → ")[0]


def _subject(kind: str, entity_id: str, label: str, name: str) -> str:
    """`name`: the person's name or deal's title the line's job carried (store.synclog)."""
    if kind == "person":
        return f"{label or name or f'Person #{entity_id}'} → Maileon"
    if kind == "deal":
        deal_id = entity_id.split(":")[0]
        title = name
        match = DEAL_LABEL.match(label)
        if match:
            title = match.group("title")
        return f"Deal '{title}' → Maileon" if title else f"Deal #{deal_id} → Maileon"
    if kind == "maileon_event":
        return "Maileon → Pipedrive"
    if kind == "organization":
        return f"Organization #{entity_id}"
    if kind in ("engagement", "engagement.bounce", "periodic.engagement"):
        return "Maileon engagement → Pipedrive"
    return ROUTINE.get(kind, kind)


def pipedrive_url(base: str, kind: str, entity_id: str) -> str:
    """The person's or deal's page in Pipedrive: `{api_domain}/person/5` (the company's
    Pipedrive address is the api_domain of its token)."""
    number = ascii_int(entity_id.split(":")[0])
    if not base or kind not in ("person", "deal") or number is None:
        return ""
    return f"{base.rstrip('/')}/{kind}/{number}"


def words(row: dict[str, Any], waiting: bool = False, base: str = "") -> LogLine:
    """One log row (or a waiting job) as the admin reads it; `base` is the company's Pipedrive
    address, for links to the person or deal."""
    message = str(row.get("message") or "")
    message = log_text(str(row["kind"]), message) or message  # a run's counts
    label = ""
    match = LABEL.match(message)
    if match and row["kind"] in ("person", "deal"):
        label, message = match.group("label"), message[match.end() :]
    result = "waiting" if waiting else str(row["result"])
    if row["kind"] in NEEDS_ACTION_WHEN_SKIPPED and result == "skipped":
        result = "attention"
    at = float(row["updated_at"] if waiting else row["at"])
    return LogLine(
        at=at,
        subject=_subject(
            str(row["kind"]), str(row["entity_id"]), label, str(row.get("subject") or "")
        ),
        text=message,
        result=result,
        result_text=RESULTS.get(result, result),
        job_id=row.get("job_id"),
        can_retry=result == "failed" and row.get("job_state") == "failed",
        next_try=float(row["run_after"]) if waiting else None,
        url=pipedrive_url(base, str(row["kind"]), str(row["entity_id"])),
    )
