from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.server import free_port
from tests.faults.app_process import AppProcess
from tests.harness import Harness, make_config, start_simulators


@pytest.fixture
def process_harness(tmp_path: Path) -> Iterator[tuple[Harness, AppProcess]]:
    """Simulators in this process, the app in its own process (so it can be killed)."""
    pipedrive, pd_server, maileon, ml_server, secret = start_simulators()
    port = free_port()
    app = AppProcess(tmp_path, port, pd_server.url, ml_server.url, secret).start()
    config = make_config(tmp_path, pd_server.url, ml_server.url, port, client_secret=secret,
                         database_path=app.env["DATABASE_PATH"])
    harness = Harness(pipedrive, maileon, pd_server.url, ml_server.url, app.url, config,
                      None)  # type: ignore[arg-type]
    try:
        yield harness, app
    finally:
        app.stop()
        pd_server.stop()
        ml_server.stop()
