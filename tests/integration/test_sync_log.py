"""The sync log shows failures in plain words, and Retry applies them once the cause is fixed."""

from __future__ import annotations

from tests.harness import MAILEON_KEY, Harness


def test_failed_item_is_retried_after_the_fault_is_fixed(harness: Harness) -> None:
    client = harness.setup_company()
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    harness.create_person(name="Key Gone", email="keygone@example.com")
    harness.settle()
    page = client.get(f"{harness.app_url}/settings?log=failed").text
    assert "Maileon rejected the credentials" in page
    assert "rejected by Maileon" in page  # the key's status in the sync health
    assert ">Retry</button>" in page

    harness.ml(
        "POST",
        "/_sim/keys",
        json={"key": MAILEON_KEY, "account": "demo", "methods": ["GET", "POST", "PUT", "DELETE"]},
    )
    job_id = page.split('name="job_id" value="')[1].split('"')[0]
    r = client.post(
        f"{harness.app_url}/settings/retry",
        data={"job_id": job_id},
        headers={"Origin": harness.app_url, "HX-Request": "true"},
    )
    assert r.status_code == 200
    harness.settle()
    assert "keygone@example.com" in harness.contacts()
    page = client.get(f"{harness.app_url}/settings").text
    assert "Failures only (0)" in page
    assert "Key status: valid" in page


def test_retry_all_and_read_only_users_cannot_retry(harness: Harness) -> None:
    client = harness.setup_company()
    harness.ml("POST", "/_sim/keys/revoke", json={"key": MAILEON_KEY})
    for i in range(3):
        harness.create_person(name=f"Fail {i}", email=f"fail{i}@example.com")
    harness.settle()
    assert "Failures only (3)" in client.get(f"{harness.app_url}/settings").text
    sales = harness.install(user_id=502)
    r = sales.post(f"{harness.app_url}/settings/retry", headers={"Origin": harness.app_url})
    assert r.status_code == 403
    harness.ml(
        "POST",
        "/_sim/keys",
        json={"key": MAILEON_KEY, "account": "demo", "methods": ["GET", "POST", "PUT", "DELETE"]},
    )
    r = client.post(f"{harness.app_url}/settings/retry", headers={"Origin": harness.app_url})
    assert r.status_code == 200
    harness.settle()
    assert {f"fail{i}@example.com" for i in range(3)} <= set(harness.contacts())
