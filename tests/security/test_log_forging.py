"""Issue #13, item 6: values from outside (a request path, a person's name) cannot write a
forged line into the plain log: control characters are escaped at the formatter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import app_process_harness
from tests.faults.app_process import AppProcess
from tests.harness import Harness
from tests.integration.test_panel import act, make_token

FORGED = "info pipedrive_maileon.app: FORGED"
LEVELS = ("debug ", "info ", "warning ", "error ", "critical ", "  | ")


@pytest.fixture
def plain_log_app(tmp_path: Path) -> Iterator[tuple[Harness, AppProcess]]:
    with app_process_harness(tmp_path, LOG_FORMAT=None) as pair:  # the default: plain lines
        yield pair


def test_crlf_in_paths_and_names_stays_on_one_log_line(
    plain_log_app: tuple[Harness, AppProcess],
) -> None:
    harness, app = plain_log_app
    harness.setup_company()
    httpx.get(f"{app.url}/nope%0D%0A{FORGED.replace(' ', '%20')}", timeout=10)
    person = harness.create_person(name=f"Eve\r\n{FORGED}", email="eve@example.com")
    harness.settle()
    r = act(harness, "subscribe", person["id"], make_token(harness))
    assert r.status_code == 200
    app.stop()

    lines = app.logs().splitlines()
    assert any("FORGED" in line for line in lines)  # the values did reach the log...
    forged = [
        line
        for line in lines
        if line.startswith(FORGED) or ("FORGED" in line and not line.startswith(LEVELS))
    ]
    assert forged == []  # ...but only inside a line of the app's own making
    assert all(line.startswith(LEVELS) for line in lines if line.strip()), lines
    assert any("\\r\\n" + FORGED in line for line in lines)
