"""How often the app calls Pipedrive's token endpoint for a code (issue #23).

Anyone can start an install and bring a code to the callback, and each exchange is made with
the app's client credentials: if Pipedrive throttled the app's OAuth client, token refreshes
of every company would stop. So exchanges are bounded per client address (after
TRUSTED_PROXIES, web/proxies.py) and overall, and a client whose exchanges keep failing waits
longer and longer. A real install is one exchange, so it goes through. The two bounds are
configurable (`OAUTH_EXCHANGES_PER_CLIENT`, `OAUTH_EXCHANGES_PER_MINUTE`): an operator moving
many companies at once, or a benchmark installing fifty from one address, raises them.

In memory: one process serves a database (store/instance.py), and a restart forgets at most a
few minutes of counts.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

PER_CLIENT = 10  # exchanges per client address …
PER_CLIENT_WINDOW = 600.0  # … in 10 minutes
OVERALL = 30  # exchanges of all clients together …
OVERALL_WINDOW = 60.0  # … in a minute
FREE_FAILURES = 2  # a client's failed exchanges in a row before it must wait
FIRST_WAIT = 30.0  # then 30 s, doubling with each further failure …
LONGEST_WAIT = 3600.0  # … up to an hour
MAX_CLIENTS = 10_000  # addresses remembered (the oldest are forgotten first)


@dataclass
class _Client:
    recent: deque[float] = field(default_factory=deque)
    failures: int = 0
    wait_until: float = 0.0


class ExchangeThrottle:
    def __init__(self, per_client: int = PER_CLIENT, overall: int = OVERALL) -> None:
        self.per_client = per_client
        self.overall_limit = overall
        self.clients: OrderedDict[str, _Client] = OrderedDict()
        self.overall: deque[float] = deque()

    def _client(self, address: str) -> _Client:
        client = self.clients.pop(address, None) or _Client()
        self.clients[address] = client  # the most recently seen last
        while len(self.clients) > MAX_CLIENTS:
            self.clients.popitem(last=False)
        return client

    def admit(self, address: str) -> float:
        """0 when this client may exchange a code now (counted as one exchange), else the
        seconds to wait."""
        t = time.monotonic()
        client = self._client(address)
        _expire(client.recent, t - PER_CLIENT_WINDOW)
        _expire(self.overall, t - OVERALL_WINDOW)
        waits = [client.wait_until - t]
        if len(client.recent) >= self.per_client:
            waits.append(client.recent[0] + PER_CLIENT_WINDOW - t)
        if len(self.overall) >= self.overall_limit:
            waits.append(self.overall[0] + OVERALL_WINDOW - t)
        wait = max(waits)
        if wait > 0:
            return wait
        client.recent.append(t)
        self.overall.append(t)
        return 0.0

    def failed(self, address: str) -> None:
        client = self._client(address)
        client.failures += 1
        if client.failures > FREE_FAILURES:
            wait = FIRST_WAIT * 2 ** (client.failures - FREE_FAILURES - 1)
            client.wait_until = time.monotonic() + min(wait, LONGEST_WAIT)

    def succeeded(self, address: str) -> None:
        client = self._client(address)
        client.failures, client.wait_until = 0, 0.0


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()
