"""Sharing a location's checks with its other runners: the assignment the server gives.

With several runners at one location, each probes only the checks the server assigns it
(``GET /api/v1/assignments``, rendezvous hashing over the runners with fresh heartbeats),
asking again once per heartbeat interval as the answer says. A runner whose assignment
was taken over stops probing those checks at its next answer.

When no answer is fresh (the server unreachable for a few rounds, or an older server
without the endpoint), the runner probes every check: two runners probing one check cost
some traffic, a check nobody probes costs coverage, and coverage is what is measured.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

import httpx

from probes.sink import RESULTS_PATH

log = logging.getLogger("kadou.probes")

ASSIGNMENTS_PATH = "/api/v1/assignments"
# An answer older than this many of its own "ask again" periods is not trusted any more.
STALE_ROUNDS = 3


class CheckAssignment:
    """The checks this runner probes, as the server last said (every check until then)."""

    def __init__(
        self,
        url: str,
        token: str,
        location: str,
        *,
        timeout_ms: int = 5_000,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        base = url.rstrip("/").removesuffix(RESULTS_PATH)
        self.endpoint = base + ASSIGNMENTS_PATH
        self.location = location
        # Set by the runner that follows this assignment (its heartbeat's id and interval).
        self.runner_id: str | None = None
        self.heartbeat_interval_s: float | None = None
        self._clock = clock
        self._checks: frozenset[str] | None = None
        self._answered_at = -math.inf
        self._ask_again_s = 10.0
        self._failing = False
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_ms / 1000),
            transport=transport,
        )

    def owns(self, check_key: str) -> bool:
        checks = self._checks
        if checks is None or self._clock() - self._answered_at > STALE_ROUNDS * self._ask_again_s:
            return True
        return check_key in checks

    async def refresh(self) -> bool:
        """Ask the server once; True when it answered."""
        if self.runner_id is None:
            raise RuntimeError("the assignment follows no runner yet (set runner_id)")
        params = {"location": self.location, "runner": self.runner_id}
        try:
            response = await self._client.get(self.endpoint, params=params)
            response.raise_for_status()
            body = response.json()
            checks = frozenset(str(key) for key in body["checks"])
            ask_again_s = float(body["ask_again_seconds"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            if not self._failing:  # one line per outage, not one per round
                log.warning("cannot get this runner's checks from %s: %s", self.endpoint, error)
            self._failing = True
            return False
        if self._failing or checks != self._checks:
            log.info("this runner probes %d checks of %s", len(checks), self.location)
        self._failing = False
        self._checks = checks
        # At least once a heartbeat: the failover bound counts on it. The server's answer
        # alone is not enough: it is the location's shortest heartbeat, which it does not
        # know yet when this runner asks before its own first heartbeat has arrived (it
        # then says 10 s, and a first runner would keep every check that long).
        if self.heartbeat_interval_s is not None:
            ask_again_s = min(ask_again_s, self.heartbeat_interval_s)
        self._ask_again_s = max(ask_again_s, 0.1)
        self._answered_at = self._clock()
        return True

    @property
    def ask_again_seconds(self) -> float:
        """How long this runner waits before it asks again."""
        return self._ask_again_s

    async def follow(self) -> None:
        """Ask again every round until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(self._ask_again_s)

    async def aclose(self) -> None:
        await self._client.aclose()
