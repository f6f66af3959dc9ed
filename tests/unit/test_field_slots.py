"""The field mapping form (F16): slots bounded, Add field and Remove, targets encoded."""

from __future__ import annotations

from store.tenants import MAX_FIELD_MAPPINGS, Settings
from sync.persons.field_mapping import mappings
from web.field_mapping import changed_slots, from_form


def test_a_forged_slot_count_is_bounded() -> None:
    form = {"field_count": "500", "custom_field_40": "x" * 40, "add_field": "1"}
    slots = from_form(form)
    assert len(slots.sources) == MAX_FIELD_MAPPINGS  # no slot beyond the limit, none added
    assert "x" * 40 not in slots.sources
    assert len(from_form({"field_count": "9" * 40}).sources) == 5  # not a count: the five


def test_add_and_remove_edit_the_slots() -> None:
    form = {"field_count": "5", "custom_field_1": "a" * 40, "custom_field_2": "pd:phone"}
    form.update(target_kind_2="standard", target_name_2=" city ")
    added = from_form({**form, "add_field": "1"})
    assert added.edited and len(added.sources) == 6
    assert added.targets[1] == "standard:CITY"
    removed = from_form({**form, "remove_field": "1"})
    assert removed.sources[:2] == ["pd:phone", ""] and removed.targets[0] == "standard:CITY"
    assert len(removed.sources) == 5  # never fewer than the five slots


def test_unchanged_mappings_offer_no_resend() -> None:
    old = Settings(company_id=1, custom_fields=["a" * 40, "", "", "", ""])
    assert [m.target for m in mappings(old)] == [""]
    assert changed_slots(old, ["a" * 40, "", "", "", ""], [""] * 5) == []
    assert changed_slots(
        old, ["a" * 40, "pd:phone", "", "", ""], ["custom:Tel", "", "", "", ""]
    ) == [1, 2]
