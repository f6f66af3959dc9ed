"""Shared pieces of the benchmarks: the simulators' process, the app (or the bare baseline) as a
separate uvicorn process, the real install flow, a lean HTTP/1.1 load generator, and the table.

Everything talks over loopback only. Nothing here is timed by a test runner.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from appconfig import Config
from sandbox.server import free_port
from store.crypto import new_key
from tests.harness import Harness, make_config

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- results ----------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    ok: bool | None  # None: informational, no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


def print_table(title: str, rows: list[Row], notes: list[str] | None = None) -> None:
    header = ("measure", "measured", "baseline", "ratio", "target", "result")
    cells = [header] + [
        (
            r.name,
            r.measured,
            r.baseline,
            "" if r.ratio is None else f"{r.ratio:.2f}",
            r.target,
            r.verdict,
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n== {title} ==")
    for i, cell in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
        if i == 0:
            print(line)
    for note in notes or []:
        print(f"  * {note}")
    sys.stdout.flush()


def machine() -> str:
    model = ""
    with open("/proc/cpuinfo") as f:
        for raw in f:
            if raw.startswith("model name"):
                model = raw.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}, "
        f"load average {load:.2f} at start"
    )


# --- processes --------------------------------------------------------------------------------
def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK_TCK


class Sims:
    """Simulated Pipedrive and Maileon in one child process (bench/sims.py), or with `split`
    in one process each (both busy at once would otherwise share one GIL)."""

    def __init__(self, split: bool = False) -> None:
        self.procs = [self._spawn("pipedrive"), self._spawn("maileon")] if split else []
        if not split:
            self.procs = [self._spawn("both")]
        infos = []
        for proc in self.procs:
            assert proc.stdout is not None
            infos.append(json.loads(proc.stdout.readline()))
        self.proc = self.procs[0]
        self.pd_url: str = infos[0]["pd_url"]
        self.ml_url: str = infos[-1]["ml_url"]
        self.client_secret: str = infos[0]["client_secret"]

    @staticmethod
    def _spawn(which: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.sims", which],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def pd(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.pd_url}{path}", timeout=60, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def ml(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.ml_url}{path}", timeout=60, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def maileon_requests(self, since_ms: int = 0) -> list[dict[str, Any]]:
        """The Maileon API calls the simulator answered (completion time ≥ since_ms)."""
        reqs = self.ml("GET", "/_sim/state")["requests"]
        return [r for r in reqs if r["time"] >= since_ms]

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Server:
    """`python -m uvicorn TARGET` on 127.0.0.1 as a child process: one worker process, the
    h11/asyncio defaults of the pinned uvicorn, no access log. Same options for app and baseline."""

    def __init__(self, target: str, port: int, env: dict[str, str], log_path: Path) -> None:
        self.target = target
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                self.target,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.target} exited; see {self.log_path}")
            try:
                httpx.get(f"{self.url}/healthz", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.02)
        raise RuntimeError(f"{self.target} did not start within {timeout}s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS since start) of the process, in MB."""
        values = {}
        with open(f"/proc/{self.pid}/status") as f:
            for raw in f:
                name, _, rest = raw.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/healthz", timeout=10).json()  # type: ignore[no-any-return]

    def wait_idle(self, timeout: float = 60.0) -> float:
        """Wait until the app's queue is empty and no job runs; returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            h = self.health()
            if h["queue_depth"] == 0 and h.get("worker", {}).get("running_jobs", 0) == 0:
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"queue not drained within {timeout}s: {self.health()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Workdir:
    """A temporary directory for the database and the server logs, removed at the end."""

    def __init__(self, name: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"pm-bench-{name}-"))

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def app_config(work: Path, sims: Sims, port: int, **overrides: Any) -> Config:
    return make_config(
        work,
        sims.pd_url,
        sims.ml_url,
        port,
        client_id="bench-client",
        client_secret=sims.client_secret,
        backoff_scale=1.0,
        **overrides,
    )


def app_env(config: Config, key_hex: str, **extra: str) -> dict[str, str]:
    """The environment `web.app:app` reads at startup, for this configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPEDRIVE_", "MAILEON_"))}
    env.update(
        {
            "PIPEDRIVE_CLIENT_ID": config.client_id,
            "PIPEDRIVE_CLIENT_SECRET": config.client_secret,
            "APP_URL": config.app_url,
            "SECRET_KEY": config.secret_key,
            "ENCRYPTION_KEY": key_hex,
            "DATABASE_PATH": config.database_path,
            "PIPEDRIVE_OAUTH_URL": config.oauth_url,
            "PIPEDRIVE_API_DOMAINS": ",".join(config.api_domains),
            "MAILEON_API_URL": config.maileon_api_url,
            "WORKER_CONCURRENCY": str(config.worker_concurrency),
            "BACKOFF_SCALE": str(config.backoff_scale),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def new_app(work: Path, sims: Sims, **overrides: Any) -> tuple[Config, dict[str, str], int]:
    port = free_port()
    key_hex = new_key()
    from store.crypto import parse_keys

    config = app_config(work, sims, port, encryption_keys=parse_keys(key_hex), **overrides)
    return config, app_env(config, key_hex), port


def install_company(
    sims: Sims, config: Config, app_url: str, **form: Any
) -> tuple[Harness, str, httpx.Client]:
    """The real install flow (OAuth consent in the simulated Pipedrive, callback, settings with
    the Maileon API key and contacts sync on unless `form` says otherwise), as tests/harness.py
    runs it. Returns the harness, the company's webhook Basic credentials as Pipedrive would
    send them, and the admin's browser session."""
    # the simulators run in their own process here: only the harness's HTTP helpers are used
    harness = Harness(None, None, sims.pd_url, sims.ml_url, app_url, config, None)  # type: ignore[arg-type]
    client = harness.setup_company(**form)
    from tests.webhooks import credentials

    auth = credentials(harness) if form.get("contacts_sync", True) else ""  # no hooks if off
    return harness, auth, client


@dataclass
class Installed:
    """A benchmark's setting: the simulators, the app in its own process with a company
    installed through the real flow, and the folder for the database and the logs."""

    work: Path
    sims: Sims
    config: Config
    env: dict[str, str]
    app: Server  # a benchmark may replace it (a restart on the same database)
    harness: Harness
    auth: str  # the company's webhook Basic credentials ("" without contacts sync)
    client: httpx.Client  # the admin's browser session
    others: list[Server] = field(default_factory=list)  # more servers to stop at the end


@contextmanager
def installed_app(
    name: str, split_sims: bool = False, env_extra: dict[str, str] | None = None, **form: Any
) -> Iterator[Installed]:
    """Start the simulators and the app (`env_extra`: more of its environment), install a
    company (`form`: its settings), wait until its setup jobs are done; on the way out stop
    every server and remove the folder."""
    work = Workdir(name)
    sims = Sims(split=split_sims)
    app: Server | None = None
    setting: Installed | None = None
    try:
        config, env, port = new_app(work.path, sims)
        env.update(env_extra or {})
        app = Server("web.app:app", port, env, work.path / "app.log").start()
        harness, auth, client = install_company(sims, config, app.url, **form)
        app.wait_idle()
        setting = Installed(work.path, sims, config, env, app, harness, auth, client)
        yield setting
    finally:
        for server in [setting.app, *setting.others] if setting else [app]:
            if server is not None:
                server.stop()
        sims.stop()
        work.cleanup()


# --- load generation --------------------------------------------------------------------------
@dataclass
class Round:
    """One measured round of load, from wrk or from the asyncio client."""

    throughput: float
    p50: float
    p99: float
    answered: int  # answers received, warm-up included
    non_2xx: int


@dataclass
class LoadResult:
    completed: int = 0
    duration: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    client_cpu: float = 0.0
    acked: int = 0  # 200 answers, warm-up included

    @property
    def throughput(self) -> float:
        return self.completed / self.duration if self.duration else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return self.pct(0.99)

    def as_round(self) -> Round:
        return Round(
            self.throughput,
            self.p50,
            self.p99,
            self.acked,
            sum(n for s, n in self.statuses.items() if s != 200),
        )

    def merge(self, other: LoadResult) -> None:
        self.completed += other.completed
        self.duration += other.duration
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.client_cpu += other.client_cpu
        self.acked += other.acked


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by the load generator")
    if length:
        await reader.readexactly(length)
    return status


async def _closed_loop(
    port: int, requests: list[bytes], concurrency: int, warmup: float, duration: float
) -> LoadResult:
    result = LoadResult(duration=duration)
    next_index = 0
    start = time.perf_counter()
    window_start, window_end = start + warmup, start + warmup + duration

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                now = time.perf_counter()
                if now >= window_end or next_index >= len(requests):
                    return
                request = requests[next_index]
                next_index += 1
                writer.write(request)
                status = await _read_response(reader)
                done = time.perf_counter()
                result.acked += status == 200
                if window_start <= now and done <= window_end:
                    result.completed += 1
                    result.latencies.append(done - now)
                    result.statuses[status] += 1
        finally:
            writer.close()

    cpu = time.process_time()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    result.client_cpu = time.process_time() - cpu
    if next_index >= len(requests):
        raise RuntimeError("the load generator ran out of prepared requests; raise the limit")
    return result


def closed_loop(
    port: int, requests: list[bytes], concurrency: int, warmup: float, duration: float
) -> LoadResult:
    """`concurrency` keep-alive connections, each sending the next prepared request as soon as
    the previous answer arrived; counts what started and finished inside the measured window."""
    return asyncio.run(_closed_loop(port, requests, concurrency, warmup, duration))


def http_post(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A prepared HTTP/1.1 keep-alive POST request."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
