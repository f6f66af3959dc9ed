"""The words of the runs through all persons: the import's summary, the sync-rules preview and
result. The cards say them (web/imports.py, web/rules.py), and so does the sync log: an ended
run's last job stores its counts (sync/runs/paged.py), which web/log_words.py words here."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sync.wording import plural


def import_summary(facts: Mapping[str, Any]) -> str:
    """E.g. "Import finished: 2001 of 2003 persons imported; 2 skipped (1 no email address, …)"."""
    skipped: dict[str, int] = dict(facts.get("skipped") or {})
    other = int(facts.get("skipped_other") or 0)  # reasons the log line had no room for
    text = f"Import finished: {facts.get('imported', 0)} of {facts.get('done', 0)} persons imported"
    if skipped or other:
        reasons = [
            f"{n} {reason}" for reason, n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        reasons += [f"{other} for other reasons"] if other else []
        text += f"; {sum(skipped.values()) + other} skipped ({', '.join(reasons)})"
    if facts.get("deals_queued"):
        text += f"; {plural(facts['deals_queued'], 'open deal')} queued as transactions"
    return text


def preview_text(counts: Mapping[str, Any], removing: bool) -> str:
    """E.g. "1,204 persons match; 37 will be added, 12 removed". `removing`: contacts of
    persons that stop matching are removed (else kept)."""
    matching = counts["matching"]
    text = (
        f"{matching:,} {'person matches' if matching == 1 else 'persons match'}; "
        f"{counts['to_add']:,} will be added, {counts['to_remove']:,} removed"
    )
    if counts["to_keep"] and removing:
        text += f", {counts['to_keep']:,} kept: not created by the app"
    elif counts["to_keep"]:
        text += f"; {counts['to_keep']:,} stop matching and keep their Maileon contact"
    if counts.get("to_check") and removing:
        text += (
            f" ({counts['to_check']:,} of the removals only if Maileon shows the app created "
            "them; the others are kept)"
        )
    return text


def applied_text(counts: Mapping[str, Any], removing: bool) -> str:
    """E.g. "Sync rules applied to 700 persons: 700 added to Maileon, 0 removed"."""
    read = counts["read"]
    text = (
        f"Sync rules applied to {read:,} {'person' if read == 1 else 'persons'}: "
        f"{counts['added']:,} added to Maileon, {counts['removed']:,} removed"
    )
    if counts["kept"] and removing:
        text += f", {counts['kept']:,} kept: not created by the app"
    elif counts["kept"]:
        text += f", {counts['kept']:,} outside the rules kept"
    return text


# Per job kind: the words of an ended run's counts.
LOG_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "import": import_summary,
    "rules": lambda facts: applied_text(facts, facts.get("on_stop") == "remove"),
}


def log_text(kind: str, message: str) -> str | None:
    """The words of a run's sync-log line whose message holds the run's counts; None when the
    message is words already (an error, a line of another kind or from an older version)."""
    wording = LOG_WORDS.get(kind)
    if wording is None or not message.startswith("{"):
        return None
    try:
        facts = json.loads(message)
        return wording(facts) if isinstance(facts, dict) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
