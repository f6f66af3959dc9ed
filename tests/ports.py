"""Ports for servers a test starts in another process, free until that process binds them.

Chosen inside the range the OS hands out for port 0, another test's server (every suite binds
port 0) could take one between the choice and the process binding it, or while an app process
restarts on its port: "port … is in use" (the demo, once in a CI run). So these ports come from
below that range.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path


def lowest_ephemeral_port() -> int:
    """Where the OS starts handing out ports for port 0 (Linux's default when unreadable)."""
    try:
        low = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]
        return int(low)
    except (OSError, IndexError, ValueError):
        return 32768


def ports_in_a_row(count: int) -> int:
    """A port below the ephemeral range whose next `count - 1` ports are free too."""
    top = lowest_ephemeral_port() - count
    for _ in range(100):
        base = random.randrange(10000, top)
        try:
            for offset in range(count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError(f"no {count} free ports in a row below {top}")


def unclaimed_port() -> int:
    """A free port below the ephemeral range."""
    return ports_in_a_row(1)
