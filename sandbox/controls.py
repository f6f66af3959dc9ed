"""The simulators' control page (`/_sim/controls`): the switches a demo user flips to see how
the app copes (an outage, a refused key or authorization, rate limits, latency), as a page
with buttons instead of POST endpoints found by reading the source. Exempt from fault
injection like the rest of `/_sim/`, so it works during the outage it switched on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from sandbox.faults import Faults

PATH = "/_sim/controls"
MAX_LATENCY_MS = 60_000.0
MAX_429_COUNT = 1000
MAX_RETRY_AFTER = 3600


class ControlError(ValueError):
    """A form value the page cannot use; shown on the page."""


def number(form: FormData, name: str, low: float, high: float) -> float:
    raw = str(form.get(name) or "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ControlError(f"{name.replace('_', ' ')} must be a number") from None
    if not low <= value <= high:
        raise ControlError(f"{name.replace('_', ' ')} must be between {low:g} and {high:g}")
    return value


def common_action(faults: Faults, action: str, form: FormData, api_prefix: str) -> str | None:
    """The switches both simulators have; None when `action` is not one of them."""
    if action == "outage_on":
        faults.down = True
        return "Outage on: every API call is answered 503 until you switch it off."
    if action == "outage_off":
        faults.down = False
        return "Outage off: the API answers again."
    if action == "latency":
        faults.latency_ms = number(form, "latency_ms", 0, MAX_LATENCY_MS)
        return f"Every API answer is now delayed by {faults.latency_ms:g} ms."
    if action == "rate_limit":
        count = int(number(form, "count", 1, MAX_429_COUNT))
        wait = int(number(form, "retry_after", 0, MAX_RETRY_AFTER))
        faults.add({"path_prefix": api_prefix, "status": 429, "count": count, "retry_after": wait})
        return f"The next {count} API calls are answered 429 (Retry-After: {wait} s)."
    if action == "clear":
        faults.clear()
        return "All faults cleared: no outage, no latency, no scripted answers."
    return None


def fault_state(faults: Faults) -> dict[str, Any]:
    return {
        "down": faults.down,
        "latency_ms": faults.latency_ms,
        "scripted_429": sum(f.count for f in faults.scripted if f.status == 429),
        "scripted_other": sum(f.count for f in faults.scripted if f.status != 429),
    }


def done(message: str, error: bool = False) -> Response:
    """Back to the page, saying what happened (post/redirect/get)."""
    query = urlencode({"error" if error else "msg": message})
    return RedirectResponse(f"{PATH}?{query}", status_code=303)


def run(action: Callable[[], str]) -> Response:
    try:
        return done(action())
    except ControlError as exc:
        return done(str(exc), error=True)
