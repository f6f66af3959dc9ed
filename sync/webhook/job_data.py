"""What a Pipedrive webhook's job keeps of the person, deal or organization: only the fields
the sync reads (sync/persons/person.py, sync/persons/contacts.py, sync/deals/handler.py,
sync/deals/content.py, sync/rules/decide.py), so a large body costs little disk (issue #23). The raw
body itself is never stored; the job's data goes once the job is done (store.queue.finish)."""

from __future__ import annotations

from typing import Any

from sync.persons.person import HASH_KEY

PERSON = frozenset(
    {
        "id",
        "name",
        "first_name",
        "last_name",
        "emails",
        "email",
        "primary_email",
        "org_id",
        "org_name",
        "phones",  # v2; v1 "phone" (a mapped field, sync/persons/field_mapping.py)
        "phone",
        "update_time",
        "custom_fields",  # v2; v1 has 40-hex keys at the root (kept too)
        "label_ids",
        "label",
        "owner_id",
        "merge_what_id",
        "merged_to_id",
        "merged_from_id",
    }
)
DEAL = frozenset(
    {
        "id",
        "title",
        "value",
        "currency",
        "status",
        "stage_id",
        "pipeline_id",
        "person_id",
        "org_id",
        "org_name",
        "owner_id",
        "owner_name",
        "user_id",
        "add_time",
        "update_time",
        "won_time",
        "lost_time",
        "lost_reason",
        "expected_close_date",
        "merged_to_id",
    }
)
ORGANIZATION = frozenset({"id", "name", "update_time", "merged_to_id"})
FIELDS = {"person": PERSON, "deal": DEAL, "organization": ORGANIZATION}


def kept(entity: str, obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fields of `obj` the sync of `entity` uses (v1 custom fields included for persons)."""
    if obj is None:
        return None
    fields = FIELDS.get(entity, frozenset({"id"}))
    return {
        k: v
        for k, v in obj.items()
        if k in fields or (entity == "person" and HASH_KEY.match(str(k)))
    }
