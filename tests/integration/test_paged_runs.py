"""The import (F12) and the sync-rules runs (F14) share one runner (sync/runs/paged.py) and one
Cancel / Resume path (store/runs.py, web/run_progress.py), so they behave alike: a run
cancelled while its last step is under way keeps what that step sent to Maileon, queues
nothing more, and its sync log does not claim it finished. (Before, a rule run cancelled on
its last page still logged "Sync rules applied to …".)"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.harness import COMPANY, Harness
from tests.integration.test_import import hx, start, text
from tests.integration.test_sync_rules import card as rules_card
from tests.integration.test_sync_rules import preview
from tests.waiting import wait_until

CARD = {"import": "/settings/import", "rules": "/settings/rules"}


def begin_last_step(harness: Harness, client: httpx.Client, run: str) -> None:
    """Start the run whose last step sends the persons to Maileon (a synchronize, held)."""
    if run == "import":  # step 1 reads the only page, step 2 sends its batch
        harness.ml("POST", "/_sim/hold", json={"path": "/1.0/contacts", "method": "POST"})
        start(harness, client)
        return
    assert preview(harness, client, mode="all") == "3 persons match; 3 will be added, 0 removed"
    run_id = re.search(r'name="run_id" value="(\d+)"', rules_card(harness, client))
    assert run_id
    harness.ml("POST", "/_sim/hold", json={"path": "/1.0/contacts", "method": "POST"})
    r = client.post(  # one page: read, sent, saved
        f"{harness.app_url}/settings/rules/apply",
        data={"run_id": run_id.group(1)},
        headers=hx(harness),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("run", ["import", "rules"])
def test_a_run_cancelled_during_its_last_step_does_not_claim_it_finished(
    harness: Harness, run: str
) -> None:
    client = harness.setup_company()
    body = {"company_id": COMPANY, "count": 3, "email_domain": "cut.test", "fire_webhooks": False}
    harness.pd("POST", "/_sim/bulk_persons", json=body)
    begin_last_step(harness, client, run)
    wait_until(lambda: harness.ml("GET", "/_sim/hold")["held"] == 1)  # the last step is under way

    r = client.post(f"{harness.app_url}{CARD[run]}/cancel", headers=hx(harness))
    assert r.status_code == 200, r.text
    harness.ml("POST", "/_sim/release")
    # the step under way finished: Maileon has its contacts (kept, as for any cancel)
    wait_until(lambda: sum(e.endswith("@cut.test") for e in harness.contacts()) == 3)
    harness.settle()

    open_jobs = "SELECT count(*) FROM jobs WHERE kind=? AND state!='done'"
    assert harness.rows(open_jobs, (run,)) == [(0,)]  # nothing goes on after the cancel
    log = text(client.get(f"{harness.app_url}/settings/health").text)
    assert "Import finished" not in log and "Sync rules applied" not in log, log
    shown = text(client.get(f"{harness.app_url}{CARD[run]}", headers=hx(harness)).text)
    assert "Import finished" not in shown and "Sync rules applied" not in shown, shown
    # the persons sent are known to the app: nobody is sent twice by a later sync
    assert harness.rows("SELECT count(*) FROM persons WHERE email LIKE '%@cut.test'") == [(3,)]
