"""The one status line at the top of the settings page: the most pressing fact first."""

from __future__ import annotations

from typing import Any

from store.outages import Outage
from sync.health import WebhookCheck
from web.health_view import status_line

ACTIVE = [{"user_id": 1, "status": "active"}]


def facts(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "installations": ACTIVE,
        "sync_on": True,
        "outages": [],
        "failed_count": 0,
        "attention_count": 0,
    }
    return {**base, **changes}


def outage(rate_limited: bool = False) -> Outage:
    return Outage("Maileon", 0.0, 0.0, "Maileon is unavailable (503)", rate_limited, 2, None)


def test_the_most_pressing_fact_comes_first() -> None:
    hooks = WebhookCheck(3, 0)
    line = status_line(facts(outages=[outage()], failed_count=3), "invalid", hooks)
    assert (line.tone, line.headline) == ("bad", "Sync is stopped: Maileon rejects the API key.")
    assert line.href == "#settings"
    line = status_line(facts(outages=[outage()], failed_count=3), "valid", hooks)
    assert line.headline == "Sync is waiting: Maileon does not answer; 2 changes wait."
    line = status_line(facts(outages=[outage(rate_limited=True)]), "valid", hooks)
    assert line.headline.startswith("Sync is waiting: Maileon is limiting requests")
    line = status_line(facts(failed_count=1, attention_count=2), "valid", hooks)
    assert line.headline == "Sync works, but 1 change failed and 2 persons need you."
    assert line.href == "?log=failed#log"
    assert status_line(facts(), "valid", WebhookCheck(3, 1)).headline.startswith(
        "Sync works, but 1 of 3 Pipedrive webhooks"
    )
    assert status_line(facts(), "valid", hooks).headline == "Sync works."
    assert status_line(facts(sync_on=False), "valid", hooks).headline == "Sync is off."
    reauth = [{"user_id": 1, "status": "needs_reauth"}]
    assert status_line(facts(installations=reauth), "valid", hooks).href == "/oauth/install"
