"""The deploy a Heroku-style platform does, from a clean clone of the committed HEAD: the Node
buildpack (`npm ci`, `npm run build`), the Python buildpack (a non-editable `pip install .`
into a fresh virtualenv), then the Procfile: `release:` before `web:`. The installed app serves
its pages with every script and stylesheet, and stops on SIGTERM with exit code 0.

Slow (a fresh virtualenv; pip's and npm's caches keep it to about a minute) and it needs the
package registries."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from store.crypto import new_key
from tests.deploy.procfile import procfile
from tests.harness import Harness, make_config, start_simulators
from tests.ports import unclaimed_port
from tests.waiting import answers_health, wait_until

ROOT = Path(__file__).resolve().parents[2]
ASSET = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"')


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    if env is None:  # pip and npm reach their registries: the real CA bundle (tests/conftest.py)
        env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{shlex.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def slug(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the built app directory, the virtualenv it was installed into)."""
    base = tmp_path_factory.mktemp("platform")
    app, venv = base / "app", base / "venv"
    head = run(["git", "rev-parse", "HEAD"], ROOT).stdout.strip()
    run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(app)], base)
    run(["git", "checkout", "--quiet", head], app)
    assert not (app / "static" / "vendor").exists()  # a clean clone: nothing prebuilt
    # Node buildpack
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], app)
    run(["npm", "run", "build"], app)
    # Python buildpack: a fresh virtualenv, the app installed into it (by this pip: a copy of
    # pip in the new environment would cost ~4 s of CPU and serve nothing the app runs)
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], base)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    run([*pip, "install", "--quiet", "--disable-pip-version-check", "."], app)
    # The installed package alone must serve pages and files: the checkout's copies go.
    for folder in ("templates", "static", "node_modules"):
        shutil.rmtree(app / folder)
    yield app, venv


def fetch_assets(client: httpx.Client, base_url: str, page: str) -> list[str]:
    """Every script and stylesheet a page references, each fetched: all must load."""
    urls = ASSET.findall(page)
    for url in urls:
        r = client.get(url if url.startswith("http") else f"{base_url}{url}")
        assert r.status_code == 200 and r.content, (url, r.status_code)
    return urls


@pytest.mark.slow
def test_platform_build_release_web_pages_and_sigterm(
    slug: tuple[Path, Path], tmp_path: Path
) -> None:
    app_dir, venv = slug
    processes = procfile(app_dir / "Procfile")
    assert list(processes) == ["release", "web"]
    pipedrive, pd_server, maileon, ml_server, secret = start_simulators()
    port = unclaimed_port()
    database = tmp_path / "disk" / "app.db"  # the persistent disk
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "PORT": str(port),
        "PIPEDRIVE_CLIENT_ID": "test-client",
        "PIPEDRIVE_CLIENT_SECRET": secret,
        "APP_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "k" * 40,
        "ENCRYPTION_KEY": new_key(),
        "DATABASE_PATH": str(database),
        "PIPEDRIVE_OAUTH_URL": pd_server.url,
        "MAILEON_API_URL": f"{ml_server.url}/1.0",
        "PIPEDRIVE_API_DOMAINS": pd_server.url,
    }
    web: subprocess.Popen[bytes] | None = None
    try:
        release = run(shlex.split(processes["release"]), app_dir, env, timeout=60)
        assert "migrated" in release.stdout and database.is_file()

        log = (tmp_path / "web.log").open("wb")
        # The platform signals the whole process group of the dyno.
        web = subprocess.Popen(
            shlex.split(processes["web"]),
            cwd=app_dir,
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        base_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert web is not None and web.poll() is None, (tmp_path / "web.log").read_text()
            return answers_health(base_url)

        wait_until(up, timeout=30, interval=0.1, what="the web process answering /healthz")
        config = make_config(
            tmp_path,
            pd_server.url,
            ml_server.url,
            port,
            client_secret=secret,
            database_path=str(database),
        )
        harness = Harness(pipedrive, maileon, pd_server.url, ml_server.url, base_url, config, None)  # type: ignore[arg-type]

        browser = harness.install()  # the OAuth install, as a browser does it
        try:
            settings = browser.get(f"{base_url}/settings")
            assert settings.status_code == 200 and "Maileon API key" in settings.text
            assets = fetch_assets(browser, base_url, settings.text)
            panel = browser.get(
                f"{base_url}/panel", params={"token": harness.sign_token(), "selectedIds": "1"}
            )
            assert panel.status_code == 200, panel.text
            assets += fetch_assets(browser, base_url, panel.text)
            htmx = browser.get(f"{base_url}/static/vendor/htmx.min.js").content
        finally:
            browser.close()
        assert {a.rsplit("/", 1)[-1] for a in assets} >= {
            "app.css",
            "app.js",
            "htmx.min.js",
            "app-extensions-sdk.umd.js",
            "panel.js",
        }
        assert htmx == (ROOT / "node_modules/htmx.org/dist/htmx.min.js").read_bytes()

        began = time.monotonic()
        os.killpg(web.pid, signal.SIGTERM)
        code = web.wait(timeout=25)
        assert code == 0 and time.monotonic() - began < 25
        web = None
    finally:
        if web is not None:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait()
        pd_server.stop()
        ml_server.stop()
