"""`pipedrive-maileon serve` refuses to start without configuration, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serve_without_client_id_exits_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "web.cli", "serve"], cwd=tmp_path, env={
        **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1
    assert "PIPEDRIVE_CLIENT_ID" in lines[0]


def test_help_lists_serve_and_demo() -> None:
    result = subprocess.run([sys.executable, "-m", "web.cli", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert "serve" in result.stdout and "demo" in result.stdout
