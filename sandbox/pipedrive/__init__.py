"""Simulated Pipedrive: OAuth, a subset of API v1/v2, app webhooks (v1 + v2), a control surface
under `/_sim/` and a small web UI for people trying the demo.

Behaviour follows the documented Pipedrive API (see docs/reference): OAuth code/refresh flow with
non-rotating refresh tokens, Bearer auth with 401s on expired tokens, burst rate limits with the
`x-ratelimit-*` headers, cursor pagination, typed custom fields, and webhook delivery with retries
after 3/30/150 s and a 30-minute ban after 10 failed first attempts. All waits are multiplied by
`time_scale` so tests can run the whole retry schedule in a couple of seconds.

The simulator imports nothing from the app.
"""

from sandbox.pipedrive.sim import PipedriveSim

__all__ = ["PipedriveSim"]
