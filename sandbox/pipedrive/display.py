"""How the UI pages show custom fields and their values."""

from __future__ import annotations

from typing import Any

from sandbox.pipedrive.core import SimCore


def ui_fields(core: SimCore, company_id: int) -> list[dict[str, Any]]:
    """The company's custom person fields, each with a list of options (empty when none)."""
    return [{**f, "options": f["options"] or []} for f in core.custom_fields(company_id)]


def ui_display(f: dict[str, Any], value: Any) -> str:
    """A field value as the UI shows it: option labels, "value currency" for money."""
    if value is None or value == []:
        return ""
    labels = {o["id"]: o["label"] for o in f["options"] or []}
    t = f["field_type"]
    if t == "enum":
        return str(labels.get(value, value))
    if t == "set":
        return ", ".join(str(labels.get(v, v)) for v in value)
    if t == "monetary":
        return f"{value.get('value')} {value.get('currency')}"
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return str(value)
