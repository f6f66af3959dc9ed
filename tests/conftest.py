from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.server import ServerThread, free_port
from tests.harness import Harness, make_config, start_simulators
from web.app import create_app


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    pipedrive, pd_server, maileon, ml_server, secret = start_simulators()
    port = free_port()
    config = make_config(tmp_path, pd_server.url, ml_server.url, port, client_secret=secret)
    app_server = ServerThread(create_app(config), port=port).start()
    try:
        yield Harness(pipedrive, maileon, pd_server.url, ml_server.url, app_server.url, config,
                      app_server)
    finally:
        app_server.stop()
        pd_server.stop()
        ml_server.stop()
