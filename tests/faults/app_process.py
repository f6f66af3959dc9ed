"""The app as a separate process (`pipedrive-maileon serve`), so tests can kill -9 it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from store.crypto import new_key
from tests.waiting import answers_health, wait_until


class AppProcess:
    def __init__(
        self, tmp: Path, port: int, pipedrive_url: str, maileon_url: str, client_secret: str
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = tmp / "app.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PIPEDRIVE_CLIENT_ID": "test-client",
            "PIPEDRIVE_CLIENT_SECRET": client_secret,
            "APP_URL": self.url,
            "SECRET_KEY": "s" * 40,
            "ENCRYPTION_KEY": new_key(),
            "DATABASE_PATH": str(tmp / "app.db"),
            "PIPEDRIVE_OAUTH_URL": pipedrive_url,
            "MAILEON_API_URL": f"{maileon_url}/1.0",
            "BACKOFF_SCALE": "0.01",
            "LOG_FORMAT": "json",
            "PIPEDRIVE_API_DOMAINS": pipedrive_url,
            "SYNC_DEBOUNCE_SECONDS": "0.02",
            "SYNC_DEBOUNCE_MAX_SECONDS": "0.2",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AppProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=log,
            cwd=Path(__file__).resolve().parents[2],
        )
        wait_until(lambda: answers_health(self.url), timeout=20, what="the app process healthy")
        return self

    def kill(self) -> None:
        """kill -9: no shutdown, no flushing, like a crash or an OOM kill."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def sigterm(self, timeout: float = 25.0) -> tuple[int, float]:
        """SIGTERM, as a platform stops a process: its exit code and the seconds it took
        (AssertionError if it outlives `timeout`)."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running {timeout} s after SIGTERM") from None
        self.proc = None
        return code, time.monotonic() - began

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
