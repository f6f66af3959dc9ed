from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import certifi
import pytest

from sandbox.server import ServerThread
from tests.database import fresh_database
from tests.faults.app_process import AppProcess
from tests.harness import BoundServer, Harness, bound_socket, make_config, start_simulators
from tests.ports import unclaimed_port
from web.app import create_app


def _trust_one_certificate() -> None:
    """Every httpx client (the app's, the simulators', the tests') loads its CA bundle when it
    is made: ~30 ms of CPU, a client per test and more (the key check, Maileon's webhooks),
    about a third of the suite's CPU. Nothing here speaks TLS (all servers are on loopback), so
    this process trusts a bundle of one certificate instead (httpx reads SSL_CERT_FILE);
    subprocesses that reach the network must not inherit it (tests/deploy/test_platform_build)."""
    bundle = open(certifi.where()).read()  # noqa: SIM115
    first = bundle[: bundle.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    fd, path = tempfile.mkstemp(prefix="one-ca-", suffix=".pem")
    with os.fdopen(fd, "w") as out:
        out.write(first[first.index("-----BEGIN CERTIFICATE-----") :] + "\n")
    atexit.register(os.unlink, path)
    os.environ["SSL_CERT_FILE"] = path


_trust_one_certificate()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow go first: each mostly waits out a real clock, so with `--dist load`
    they spread over the workers at the start and overlap everything else, instead of one of
    them starting last and holding up the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def stop_all(*servers: ServerThread) -> None:
    """Stop servers together: each takes up to a tick of uvicorn's main loop to notice."""
    for server in servers:
        server.server.should_exit = True
    for server in servers:
        server.stop()


# Servers of the previous test, told to stop and stopping (about 0.2 s: uvicorn's ticks) while
# the next test starts its own; joined before that test runs, so nothing of them overlaps it.
_stopping: list[ServerThread] = []


def _finish_stopping() -> None:
    while _stopping:
        _stopping.pop().stop()


@pytest.fixture(autouse=True)
def _earlier_servers_stopped(request: pytest.FixtureRequest) -> None:
    if not {"harness", "fast_periodic_harness"} & set(request.fixturenames):
        _finish_stopping()


@pytest.fixture(autouse=True, scope="session")
def _last_servers_stopped() -> Iterator[None]:
    yield
    _finish_stopping()


@contextmanager
def running_harness(
    tmp_path: Path, time_scale: float = 0.01, stop_later: bool = False, **config: Any
) -> Iterator[Harness]:
    """The app and both simulators as real servers on loopback; config overrides allowed.
    `stop_later`: the servers finish stopping while the next test starts (for fixtures)."""
    pipedrive, pd_server, maileon, ml_server, secret = start_simulators(time_scale)
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    cfg = make_config(tmp_path, pd_server.url, ml_server.url, port, client_secret=secret, **config)
    fresh_database(cfg.database_path)
    app_server = BoundServer(create_app(cfg), sock).start()
    harness = Harness(
        pipedrive, maileon, pd_server.url, ml_server.url, app_server.url, cfg, app_server
    )
    _finish_stopping()
    try:
        yield harness
    finally:
        harness.http.close()
        # the app running now: a test may have restarted it
        servers = (harness.app_server, pd_server, ml_server)
        if stop_later:
            for server in servers:
                server.server.should_exit = True
            _stopping.extend(servers)
        else:
            stop_all(*servers)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with running_harness(tmp_path, stop_later=True) as h:
        yield h


@pytest.fixture
def fast_periodic_harness(tmp_path: Path) -> Iterator[Harness]:
    """Periodic jobs (webhook check, sweep, token refresh) run about every second."""
    with running_harness(tmp_path, stop_later=True, periodic_scale=0.001) as h:
        yield h


@contextmanager
def app_process_harness(tmp_path: Path, **env: str | None) -> Iterator[tuple[Harness, AppProcess]]:
    """Simulators in this process, the app in its own process (so it can be killed); `env`
    overrides its environment (None removes a variable)."""
    pipedrive, pd_server, maileon, ml_server, secret = start_simulators()
    port = unclaimed_port()
    app = AppProcess(tmp_path, port, pd_server.url, ml_server.url, secret)
    for name, value in env.items():
        if value is None:
            app.env.pop(name, None)
        else:
            app.env[name] = value
    app.start()
    config = make_config(
        tmp_path,
        pd_server.url,
        ml_server.url,
        port,
        client_secret=secret,
        database_path=app.env["DATABASE_PATH"],
    )
    harness = Harness(pipedrive, maileon, pd_server.url, ml_server.url, app.url, config, None)  # type: ignore[arg-type]
    try:
        yield harness, app
    finally:
        harness.http.close()
        app.stop()
        stop_all(pd_server, ml_server)


@pytest.fixture
def process_harness(tmp_path: Path) -> Iterator[tuple[Harness, AppProcess]]:
    with app_process_harness(tmp_path) as pair:
        yield pair
