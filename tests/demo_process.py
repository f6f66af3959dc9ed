"""Start `pipedrive-maileon demo`, which takes `--port` and the next two ports.

A start that still finds one of them taken (see `tests/ports.py`) is tried on others.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.ports import ports_in_a_row

READY = "Press Ctrl+C"
TAKEN = "is in use"


def start_demo(
    cwd: Path, env: Mapping[str, str] | None = None, attempts: int = 3
) -> tuple[subprocess.Popen[str], int, str]:
    """The running demo, its `--port` and what it printed up to "Press Ctrl+C"."""
    printed = ""
    for _ in range(attempts):
        port = ports_in_a_row(3)
        demo = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "demo", "--port", str(port)],
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert demo.stdout is not None
        printed = ""
        while READY not in printed:
            line = demo.stdout.readline()
            if not line:
                break
            printed += line
        if READY in printed:
            return demo, port, printed
        demo.wait(timeout=30)
        if TAKEN not in printed:
            break
    raise AssertionError(f"the demo did not start:\n{printed}")
