"""The pure sync-rule evaluation (F14): every rule kind, the wire forms it reads, and reasons."""

from __future__ import annotations

from sync.persons.fields import PersonField
from sync.persons.person import Person, from_pipedrive
from sync.rules.decide import (
    Names,
    SyncRules,
    describe,
    evaluate,
    from_dict,
    needs_person_read,
)

TIER = "9dc80c50d78a15643bfc4ca79d76156a73a1ca0e"
INTERESTS = "1" * 40
CITY = "2" * 40
FIELDS = {
    TIER: PersonField(TIER, "Tier", "enum", {190: "Gold", 191: "Silver"}, True),
    INTERESTS: PersonField(INTERESTS, "Interests", "set", {5: "News", 6: "Events"}, True),
    CITY: PersonField(CITY, "City", "varchar", {}, True),
    "label_ids": PersonField("label_ids", "Labels", "set", {1: "Customer", 2: "Supplier"}, False),
}
NAMES = Names(labels={1: "Customer", 2: "Supplier"}, users={501: "Ada Admin"}, fields=FIELDS)


def person(**data: object) -> Person:
    return from_pipedrive({"id": 7, "name": "P", **data})


def test_all_and_newsletter_modes() -> None:
    assert evaluate(SyncRules(), person(), "", NAMES).matches
    rules = SyncRules(mode="newsletter")
    assert evaluate(rules, person(), "Unsubscribed", NAMES).matches
    left = evaluate(rules, person(), "", NAMES)
    assert not left.matches and "Newsletter field is empty" in left.reason


def test_labels_from_every_wire_form() -> None:
    rules = SyncRules(mode="rules", labels=(1,))
    assert evaluate(rules, person(label_ids=[2, 1]), "", NAMES).matches  # API v2
    assert evaluate(rules, person(label_ids=["1"]), "", NAMES).matches
    out = evaluate(rules, person(label_ids=[2]), "", NAMES)
    assert not out.matches and out.reason == "none of the labels Customer"


def test_missing_labels_or_owner_ask_for_a_read_instead_of_a_guess() -> None:
    labels = SyncRules(mode="rules", labels=(1,))
    assert needs_person_read(labels, person(label=None))
    # a single `label` (v1, v2 webhooks) is only the first of the labels: the set is unknown
    assert needs_person_read(labels, person(label=2))
    assert needs_person_read(labels, person(label={"id": 1, "type": "enum"}))
    assert not needs_person_read(labels, person(label_ids=[]))
    owners = SyncRules(mode="rules", owners=(501,))
    assert needs_person_read(owners, person())
    assert not needs_person_read(owners, person(owner_id=9))
    assert not needs_person_read(SyncRules(mode="newsletter"), person())


def test_owner_as_id_or_v1_object() -> None:
    rules = SyncRules(mode="rules", owners=(501,))
    assert evaluate(rules, person(owner_id=501), "", NAMES).matches
    assert evaluate(
        rules, person(owner_id={"id": 501, "value": 501, "name": "Ada"}), "", NAMES
    ).matches
    out = evaluate(rules, person(owner_id=502), "", NAMES)
    assert out.reason == "its owner is user #502, not Ada Admin"


def test_field_equals_text_option_name_option_id_and_set_member() -> None:
    gold = SyncRules(mode="rules", field_key=TIER, field_value="gold")
    assert evaluate(gold, person(custom_fields={TIER: 190}), "", NAMES).matches
    assert evaluate(
        gold, person(custom_fields={TIER: {"id": 190, "type": "enum"}}), "", NAMES
    ).matches
    assert not evaluate(gold, person(custom_fields={TIER: 191}), "", NAMES).matches
    by_id = SyncRules(mode="rules", field_key=TIER, field_value="190")
    assert evaluate(by_id, person(custom_fields={TIER: "190"}), "", NAMES).matches
    events = SyncRules(mode="rules", field_key=INTERESTS, field_value="Events")
    assert evaluate(events, person(custom_fields={INTERESTS: "5,6"}), "", NAMES).matches
    city = SyncRules(mode="rules", field_key=CITY, field_value="Berlin")
    assert evaluate(city, person(custom_fields={CITY: " berlin "}), "", NAMES).matches
    out = evaluate(city, person(custom_fields={CITY: None}), "", NAMES)
    assert not out.matches and out.reason == "its City is not Berlin"


def test_any_rule_matches_and_all_misses_are_explained() -> None:
    rules = SyncRules(mode="rules", labels=(1,), owners=(501,), field_key=TIER, field_value="Gold")
    assert evaluate(rules, person(label_ids=[], owner_id=501), "", NAMES).matches
    out = evaluate(rules, person(label_ids=[], owner_id=3, custom_fields={}), "", NAMES)
    assert out.reason == (
        "none of the labels Customer; its owner is user #3, not Ada Admin; its Tier is not Gold"
    )
    nothing = evaluate(SyncRules(mode="rules"), person(), "", NAMES)
    assert not nothing.matches and "no rule is chosen" in nothing.reason


def test_stored_rules_read_tolerantly_and_round_trip() -> None:
    rules = SyncRules(
        mode="rules",
        labels=(2, 1),
        owners=(501,),
        field_key=TIER,
        field_value="Gold",
        on_stop="remove",
    )
    assert SyncRules.from_json(rules.to_json()) == from_dict(
        {
            "mode": "rules",
            "labels": [1, 2],
            "owners": [501],
            "field_key": TIER,
            "field_value": "Gold",
            "on_stop": "remove",
        }
    )
    assert SyncRules.from_json("not json") == SyncRules()
    assert SyncRules.from_json('{"mode": "evil", "labels": ["x", 3]}') == SyncRules(labels=(3,))
    assert describe(SyncRules.from_json(rules.to_json()), NAMES) == (
        "Persons whose label is Customer or Supplier, or whose owner is Ada Admin, or whose "
        "Tier is Gold"
    )
