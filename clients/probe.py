"""One line of `check`: a probe of a Maileon call shape and what it found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Probe:
    name: str
    ok: bool
    detail: str
    empty: bool = False  # neither passed nor failed: nothing to look at
    refused: bool = False  # Maileon refused the key: nothing else can be checked

    def line(self) -> str:
        mark = "EMPTY" if self.empty else "OK   " if self.ok else "DIFF "
        return f"{mark} {self.name}: {self.detail}"
