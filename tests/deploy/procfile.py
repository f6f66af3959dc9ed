"""Read a Procfile as a platform does: `name: command` a line."""

from __future__ import annotations

from pathlib import Path


def procfile(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not line.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries
