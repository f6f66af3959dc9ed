"""The sync log's wording: counted nouns, and log lines about people and deals by name."""

from __future__ import annotations

import json
import re

from store.synclog import MAX_MESSAGE
from sync.runs.import_run import finished_facts
from sync.runs.paged import facts_message
from sync.wording import plural
from web.log_words import words


def test_plural_counts_in_words() -> None:
    assert plural(1, "open deal") == "1 open deal"
    assert plural(3, "open deal") == "3 open deals"
    assert plural(1, "Pipedrive webhook") == "1 Pipedrive webhook"
    assert plural(0, "change") == "0 changes"
    assert plural(2, "change waits", "changes wait") == "2 changes wait"


def row(kind: str, entity_id: str, result: str, message: str, **extra: object) -> dict[str, object]:
    return {
        "kind": kind,
        "entity_id": entity_id,
        "result": result,
        "message": message,
        "at": 1_700_000_000.0,
        "job_id": 7,
        **extra,
    }


def test_a_person_line_names_the_person_and_where_it_went() -> None:
    line = words(row("person", "5", "ok", "Ada Lovelace (#5): updated in Maileon"))
    assert (line.subject, line.text, line.result_text) == (
        "Ada Lovelace → Maileon",
        "updated in Maileon",
        "Done",
    )
    assert line.about == "Ada Lovelace"


def test_a_line_without_a_label_takes_the_name_its_job_carried_or_the_id() -> None:
    failed = row(
        "person", "5", "failed", "Maileon rejected the credentials (401)", job_state="failed"
    )
    assert words({**failed, "subject": "Ada"}).subject == "Ada → Maileon"
    line = words(failed)
    assert line.subject == "Person #5 → Maileon" and line.can_retry


def test_a_deal_line_names_the_deal() -> None:
    line = words(
        row(
            "deal",
            "12:change",
            "ok",
            'deal "Big deal" (#12): pipedrive_deal_updated sent to Maileon',
        )
    )
    assert line.subject == "Deal 'Big deal' → Maileon"
    assert line.text == "pipedrive_deal_updated sent to Maileon"
    assert (
        words(
            row("deal", "12:delete", "skipped", "Deals sync to Maileon is off", subject="Big deal")
        ).subject
        == "Deal 'Big deal' → Maileon"
    )


def test_maintenance_and_attention_read_as_words() -> None:
    assert (
        words(
            row("periodic.webhooks", "company", "ok", "missing Pipedrive webhooks re-created: 1")
        ).subject
        == "Pipedrive webhooks check"
    )
    attention = words(
        row(
            "person",
            "5",
            "attention",
            "Ada (#5): marked Subscribed but the email address is not valid",
        )
    )
    assert (attention.result, attention.result_text) == ("attention", "Needs attention")
    assert not attention.can_retry


def test_an_authorization_that_could_not_be_refreshed_needs_attention() -> None:
    line = words(
        row(
            "periodic.tokens",
            "company",
            "skipped",
            "1 Pipedrive authorization could not be refreshed",
        )
    )
    assert (line.subject, line.result_text) == (
        "Pipedrive authorization refresh",
        "Needs attention",
    )


def test_an_ended_run_is_worded_from_its_counts() -> None:
    """A finished import's or applied rules run's line stores counts (sync/runs/paged.py);
    the log says them in the words the cards use (web/run_words.py)."""
    imported = {"done": 2003, "imported": 2001, "skipped": '{"no email address": 2}'}
    line = words(row("import", "1", "ok", facts_message(finished_facts(imported))))
    assert (line.subject, line.text) == (
        "Import of existing contacts",
        "Import finished: 2001 of 2003 persons imported; 2 skipped (2 no email address)",
    )
    applied = {"read": 4, "added": 0, "removed": 2, "kept": 1, "on_stop": "remove"}
    assert words(row("rules", "3", "ok", facts_message(applied))).text == (
        "Sync rules applied to 4 persons: 0 added to Maileon, 2 removed, 1 kept: not created "
        "by the app"
    )
    # a line from before (words already) and a failure read as they are
    old = "Import finished: 3 of 3 persons imported"
    assert words(row("import", "1", "ok", old)).text == old
    assert words(row("rules", "3", "failed", "{not counts")).text == "{not counts"


def test_an_import_line_with_many_skip_reasons_stays_whole() -> None:
    """Refusals name Maileon fields, so reasons can be many; the line keeps the most frequent
    and counts the rest, instead of being cut into counts nobody can read."""
    reasons = {f"refused by Maileon: field_{i:02d} not valid": 40 - i for i in range(40)}
    message = facts_message(
        finished_facts({"done": 900, "imported": 80, "skipped": json.dumps(reasons)})
    )
    assert len(message) <= MAX_MESSAGE
    text = words(row("import", "1", "ok", message)).text
    assert text.startswith("Import finished: 80 of 900 persons imported; 820 skipped (40 refused")
    assert "field_00" in text and "field_39" not in text
    assert re.search(r", \d+ for other reasons\)$", text), text
