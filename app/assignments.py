"""Which runner of a location probes which check: rendezvous hashing over live runners.

Several runners (agents, or embedded runners) at one location share its checks instead of
each probing all of them. Each check goes to the live runner with the highest
``sha256(check, runner)`` score (rendezvous, or highest-random-weight, hashing): every
server replica computes the same answer from the same heartbeats, with no table of leases
and no election; adding a runner moves only the checks it now wins (about 1/n of them),
and losing one moves only the checks it had.

A runner is live while its last heartbeat is younger than ``LIVE_INTERVALS`` of its own
heartbeat intervals. So a runner that dies stops owning its checks at most that long after
its last beat, and the others, which ask for their assignment once per heartbeat, take
them over within one more interval: the coverage gap is at most
``(LIVE_INTERVALS + 1) × interval``. A runner that asks is live by asking, so a new
runner gets its share at once. Agents ask the server (``GET /api/v1/assignments``), so
they need no database access.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.catalog.model import Catalog
from app.runtime import Runtime
from app.store.runners import runner_heartbeats

log = logging.getLogger("kadou.assignments")

# A runner is live while its last heartbeat is at most this many of its intervals old.
LIVE_INTERVALS = 1.5


def score(check_key: str, runner_id: str) -> int:
    digest = hashlib.sha256(f"{check_key}\x00{runner_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def owner(check_key: str, runner_ids: Sequence[str]) -> str | None:
    """The runner that probes ``check_key`` among ``runner_ids`` (None if there is none)."""
    if not runner_ids:
        return None
    # Ties (astronomically unlikely) go to the smaller id, so every process agrees.
    return max(sorted(runner_ids), key=lambda runner_id: score(check_key, runner_id))


def assign(check_keys: Iterable[str], runner_ids: Sequence[str]) -> dict[str, str]:
    """Check key -> owning runner, for every check (empty if no runner is live)."""
    ranked = sorted(set(runner_ids))
    if not ranked:
        return {}
    return {key: owner(key, ranked) or ranked[0] for key in check_keys}


@dataclass(frozen=True, slots=True)
class LocationAssignment:
    location: str
    live_runners: list[str]
    # runner id -> the check keys it probes, sorted
    checks: dict[str, list[str]]
    # How often runners should ask again: the shortest heartbeat interval there.
    interval_seconds: float


def live_runners(
    heartbeats: Iterable[tuple[str, str, datetime, int]], location: str, now: datetime
) -> list[str]:
    """Runner ids of ``location`` whose (runner, location, last seen, interval ms) is fresh."""
    return sorted(
        runner_id
        for runner_id, where, last_seen, interval_ms in heartbeats
        if where == location
        and now - last_seen <= timedelta(milliseconds=LIVE_INTERVALS * interval_ms)
    )


def location_assignment(
    runtime: Runtime, location: str, now: datetime, *, asking: str | None = None
) -> LocationAssignment:
    """The assignment of ``location``'s checks; ``asking`` (a runner) counts as live."""
    with runtime.sessions() as session:
        beats = [
            (row.runner_id, row.location, row.last_seen_at, row.interval_ms)
            for row in runner_heartbeats(session)
        ]
    runners = live_runners(beats, location, now)
    if asking is not None and asking not in runners:
        runners = sorted([*runners, asking])
    intervals = [
        ms for runner_id, where, _, ms in beats if where == location and runner_id in runners
    ]
    by_runner: dict[str, list[str]] = {runner_id: [] for runner_id in runners}
    for key, runner_id in assign(sorted(_check_keys(runtime.catalog)), runners).items():
        by_runner[runner_id].append(key)
    return LocationAssignment(
        location=location,
        live_runners=runners,
        checks=by_runner,
        interval_seconds=min(intervals) / 1000 if intervals else 10.0,
    )


def _check_keys(catalog: Catalog) -> list[str]:
    return list(catalog.checks())


# An answer older than this many refresh periods is not trusted any more: probe everything.
STALE_ROUNDS = 3


class LocalAssignment:
    """The embedded runner's share of its location's checks, read from the database.

    The same answer agents get from ``GET /api/v1/assignments``, without the HTTP round
    trip. Until the first answer, and when the database has not answered for a few
    rounds, the runner probes every check: a gap costs coverage, double probing only
    traffic.
    """

    def __init__(
        self,
        runtime: Runtime,
        location: str,
        runner_id: str,
        clock: Callable[[], datetime],
        *,
        every_seconds: float,
    ) -> None:
        self.runtime = runtime
        self.location = location
        self.runner_id = runner_id
        self.clock = clock
        self.every_seconds = every_seconds
        self._checks: frozenset[str] | None = None
        self._answered_at = -math.inf

    def owns(self, check_key: str) -> bool:
        checks = self._checks
        if checks is None or time.monotonic() - self._answered_at > (
            STALE_ROUNDS * self.every_seconds
        ):
            return True
        return check_key in checks

    def refresh(self) -> None:
        assignment = location_assignment(
            self.runtime, self.location, self.clock(), asking=self.runner_id
        )
        checks = frozenset(assignment.checks.get(self.runner_id, []))
        if checks != self._checks:
            log.info("the embedded runner probes %d checks of %s", len(checks), self.location)
        self._checks = checks
        self._answered_at = time.monotonic()

    async def follow(self) -> None:
        """Refresh every round until cancelled; a failed round keeps the last answer."""
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as error:  # the database monitor reports outages
                log.debug("assignment not refreshed: %s", error)
            await asyncio.sleep(self.every_seconds)
