"""`pipedrive-maileon demo` prints where the simulators' control pages are, and they answer."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.demo_process import start_demo

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_prints_both_control_pages() -> None:
    demo, port, text = start_demo(cwd=ROOT)
    try:
        for sim_port in (port + 1, port + 2):
            url = f"http://127.0.0.1:{sim_port}/_sim/controls"
            assert url in text, text
            page = httpx.get(url, timeout=10)
            assert page.status_code == 200 and "Switch an outage on" in page.text
    finally:
        demo.terminate()
        demo.wait(timeout=30)
