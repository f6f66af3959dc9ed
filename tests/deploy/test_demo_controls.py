"""`pipedrive-maileon demo` prints where the simulators' control pages are, and they answer."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> int:
    """A port whose next `count - 1` ports are free too (the demo takes three in a row)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        try:
            for offset in range(count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no three free ports in a row")


def test_the_demo_prints_both_control_pages(tmp_path: Path) -> None:
    port = free_ports(3)
    demo = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "demo", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            printed.append(line)
            if "Press Ctrl+C" in line:
                break
        text = "".join(printed)
        for sim_port in (port + 1, port + 2):
            url = f"http://127.0.0.1:{sim_port}/_sim/controls"
            assert url in text, text
            page = httpx.get(url, timeout=10)
            assert page.status_code == 200 and "Switch an outage on" in page.text
    finally:
        demo.terminate()
        demo.wait(timeout=30)
