"""Shapes the reference marks UNCONFIRMED: an unexpected one is logged once per company and
never counts as a success (issue #12)."""

from __future__ import annotations

import logging
import time

import httpx
import jwt
import pytest

from tests.harness import ADMIN, COMPANY, Harness
from tests.integration.test_import import start, wait_for
from tests.integration.test_syncback import token_of
from tests.waiting import wait_until


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and text in r.getMessage()
    ]


def test_an_unreadable_synchronize_report_fails_the_import_batch(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    client = harness.setup_company(contacts_sync=False)
    harness.create_person(name="Ada Import", email="ada@example.com")
    harness.ml(
        "POST",
        "/_sim/faults",
        json={
            "path_prefix": "/1.0/contacts",
            "method": "POST",
            "status": 200,
            "count": 5,
            "content_type": "application/vnd.maileon.api+xml",
            "body": "<result>done</result>",
        },
    )
    with caplog.at_level(logging.WARNING):
        start(harness, client)
        html = wait_for(harness, client, "running", timeout=30)

        def stopped_card() -> str:
            page = client.get(
                f"{harness.app_url}/settings/import", headers={"HX-Request": "true"}
            ).text
            return page if "unexpected shape" in page else ""

        if "unexpected shape" not in html:
            html = wait_until(stopped_card, timeout=20, interval=0.1)
    assert "unexpected shape" in html  # the import stops visibly …
    assert "0 imported" in html  # … and counts nothing as imported
    assert len(warnings(caplog, "synchronize report has an unexpected shape")) == 1


def test_a_maileon_call_without_email_or_id_is_skipped_with_one_warning(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.setup_company()
    url = f"{harness.app_url}/webhooks/maileon/{COMPANY}/unsubscription"
    with caplog.at_level(logging.WARNING):
        for stamp in ("2026-11-27 09:00:00", "2026-11-27 09:00:01"):
            r = httpx.post(
                url,
                params={"token": token_of(harness)},
                json={"contact": {"mail": "x@example.com"}, "timestamp": stamp},
            )
            assert r.status_code == 200
        harness.settle()
    logged = harness.rows("SELECT result FROM sync_log WHERE kind='maileon_event'")
    assert logged and all(r[0] == "skipped" for r in logged)
    assert len(warnings(caplog, "neither an email nor an external id")) == 1


def test_a_signed_token_with_unknown_claims_is_refused_and_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.setup_company()
    issued = int(time.time())
    token = jwt.encode(
        {"uid": ADMIN, "cid": COMPANY, "iat": issued, "exp": issued + 300},
        harness.config.client_secret,
        algorithm="HS256",
    )
    with caplog.at_level(logging.WARNING):
        r = httpx.get(f"{harness.app_url}/settings", params={"token": token}, timeout=10)
    assert r.status_code == 401
    assert warnings(caplog, "lacks companyId/userId (claims: cid, exp, iat, uid)")
