"""Sync rules (F14): which persons go to Maileon, decided from the person data the app already
has (a webhook payload or an API page), never with a call per person per rule.

Modes: every person with an email (`all`, the default), only persons whose Newsletter field has
a value (`newsletter`), or persons matching rules (`rules`): any of the chosen labels, OR an
owner among the chosen users, OR a chosen person field equal to a chosen value. A rule left
empty does not take part; `rules` with no rule at all matches nobody.

Labels arrive as `label_ids` (API v2), read by sync/persons/person.py. A webhook carries only
`label`, the first of the person's labels (the documented v2 example has no `label_ids`), which does
not say which labels the person has; `needs_person_read` tells the caller to read the person once
instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sync.persons.fields import PersonField, plain_value
from sync.persons.person import Person

MODES = ("all", "newsletter", "rules")
ON_STOP = ("keep", "remove")
LABEL_KEYS = ("label_ids", "label")  # the person field holding the label options
MAX_CHOICES = 100
MAX_VALUE = 255


@dataclass(frozen=True)
class SyncRules:
    mode: str = "all"
    labels: tuple[int, ...] = ()
    owners: tuple[int, ...] = ()
    field_key: str = ""
    field_value: str = ""
    on_stop: str = "keep"

    @property
    def filters(self) -> bool:
        """False when every person with an email goes to Maileon."""
        return self.mode != "all"

    def to_json(self) -> str:
        return json.dumps(
            {
                "mode": self.mode,
                "labels": list(self.labels),
                "owners": list(self.owners),
                "field_key": self.field_key,
                "field_value": self.field_value,
                "on_stop": self.on_stop,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> SyncRules:
        try:
            raw = json.loads(text or "{}")
        except ValueError:
            raw = {}
        return from_dict(raw if isinstance(raw, dict) else {})


def from_dict(raw: dict[str, Any]) -> SyncRules:
    """Tolerant: unknown values fall back to the defaults (stored JSON, never user input)."""
    mode = raw.get("mode") if raw.get("mode") in MODES else "all"
    on_stop = raw.get("on_stop") if raw.get("on_stop") in ON_STOP else "keep"
    return SyncRules(
        mode=str(mode),
        labels=_ids(raw.get("labels")),
        owners=_ids(raw.get("owners")),
        field_key=str(raw.get("field_key") or "")[:64],
        field_value=str(raw.get("field_value") or "")[:MAX_VALUE],
        on_stop=str(on_stop),
    )


def _ids(value: Any) -> tuple[int, ...]:
    out = []
    for item in value if isinstance(value, list) else []:
        try:
            out.append(int(item))
        except (TypeError, ValueError):
            continue
    return tuple(sorted(set(out)))[:MAX_CHOICES]


@dataclass(frozen=True)
class Verdict:
    matches: bool
    reason: str  # why it matches, or why it is left out


@dataclass
class Names:
    """Display names for reasons: label option ids, user ids, field keys."""

    labels: dict[int, str] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)
    fields: dict[str, PersonField] = field(default_factory=dict)

    def label(self, label_id: int) -> str:
        return self.labels.get(label_id, f"label #{label_id}")

    def user(self, user_id: int) -> str:
        return self.users.get(user_id, f"user #{user_id}")


def label_field(fields: dict[str, PersonField]) -> PersonField | None:
    for key in LABEL_KEYS:
        if key in fields and fields[key].options:
            return fields[key]
    return None


def needs_person_read(rules: SyncRules, person: Person) -> bool:
    """The data lacks what a chosen rule reads (labels or owner): read the person once."""
    if rules.mode != "rules":
        return False
    if rules.labels and person.label_ids is None:
        return True
    return bool(rules.owners) and person.owner_id is None


def evaluate(rules: SyncRules, person: Person, newsletter: str, names: Names) -> Verdict:
    """Whether a person (with its Newsletter label) goes to Maileon, and why, in plain words."""
    if rules.mode == "all":
        return Verdict(True, "all persons with an email go to Maileon")
    if rules.mode == "newsletter":
        if newsletter:
            return Verdict(True, f"its Newsletter field says {newsletter}")
        return Verdict(
            False,
            "its Newsletter field is empty (only persons with a Newsletter value go to Maileon)",
        )
    misses = []
    if rules.labels:
        have = person.label_ids or set()
        hit = sorted(have & set(rules.labels))
        if hit:
            return Verdict(True, f"it has the label {names.label(hit[0])}")
        misses.append("none of the labels " + ", ".join(names.label(i) for i in rules.labels))
    if rules.owners:
        owner = person.owner_id
        if owner is not None and owner in rules.owners:
            return Verdict(True, f"its owner is {names.user(owner)}")
        misses.append(
            "its owner is "
            + (names.user(owner) if owner is not None else "nobody")
            + ", not "
            + " or ".join(names.user(i) for i in rules.owners)
        )
    if rules.field_key:
        chosen = names.fields.get(rules.field_key)
        title = chosen.name if chosen else rules.field_key
        if field_equals(person.custom.get(rules.field_key), rules.field_value, chosen):
            return Verdict(True, f"its {title} is {rules.field_value}")
        misses.append(f"its {title} is not {rules.field_value}")
    if not misses:
        return Verdict(False, "no rule is chosen, so no person goes to Maileon")
    return Verdict(False, "; ".join(misses))


def field_equals(raw: Any, wanted: str, chosen: PersonField | None) -> bool:
    """A field value equals the wanted text: case-insensitive; an option matches by its label
    or id; a multiple-option field matches when one of its options does."""
    value = plain_value(raw, chosen)
    wanted = wanted.strip().lower()
    if isinstance(value, dict):
        value = value.get("value")
    values = value if isinstance(value, list) else [value]
    for item in values:
        if item is None or item == "":
            continue
        texts = {str(item).strip().lower()}
        if chosen is not None and chosen.options:
            texts.add(chosen.options.get(_as_int(item), "").strip().lower())
        if wanted in texts:
            return True
    return False


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def describe(rules: SyncRules, names: Names) -> str:
    """The rules in one sentence, for the settings and the log."""
    if rules.mode == "all":
        return "All persons with an email address"
    if rules.mode == "newsletter":
        return "Only persons whose Newsletter field is set"
    parts = []
    if rules.labels:
        parts.append("label is " + " or ".join(names.label(i) for i in rules.labels))
    if rules.owners:
        parts.append("owner is " + " or ".join(names.user(i) for i in rules.owners))
    if rules.field_key:
        chosen = names.fields.get(rules.field_key)
        parts.append(f"{chosen.name if chosen else rules.field_key} is {rules.field_value}")
    return "Persons whose " + ", or whose ".join(parts) if parts else "No person (no rule chosen)"
