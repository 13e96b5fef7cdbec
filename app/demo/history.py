"""Sixty days of realistic history for the live demo, ending now.

The history goes through the normal paths — observations are validated and stored like
``kadou import``, windows are registered like ``kadou exclusions add`` — so the demo
shows exactly what a real deployment would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.model import Catalog
from app.demo.sample import SampleBlip, SampleGap, SampleOutage, SampleScenario, generate
from app.observations import batched, parse_observation
from app.store.db import transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import TimelineParams, store_observations
from app.store.tokens import Actor, Role

DEMO_ACTOR = Actor("demo", Role.ADMIN)


@dataclass(frozen=True)
class DemoWindow:
    scope: str
    kind: str
    start: datetime
    end: datetime
    reason: str


def demo_scenario(now: datetime) -> tuple[SampleScenario, list[DemoWindow]]:
    """The events of the last 60 days, placed relative to ``now`` (whole minutes, UTC)."""
    base = now.astimezone(UTC).replace(second=0, microsecond=0)

    def ago(days: float, hours: float = 0) -> datetime:
        return base - timedelta(days=days) + timedelta(hours=hours)

    outages = [
        # Longer than the 8 h recovery target of the information provision network.
        SampleOutage("info-network/main", ago(33, 1), ago(33, 10.5), "status 503"),
        # Overruns its planned window by 20 minutes: only the overrun counts.
        SampleOutage("info-network/main", ago(10, 2.5), ago(10, 3 + 1 / 3), "connect refused"),
        # Inside a declared disaster window: excluded.
        SampleOutage("jpki/main", ago(25, 4), ago(25, 9), "timeout"),
        SampleOutage("jpki/main", ago(5, 14), ago(5, 14.6), "status 502"),
        SampleOutage("card-management/main", ago(47, 10), ago(47, 11.1), "timeout"),
        SampleOutage("card-management/main", ago(3, 16), ago(3, 16.25), "status 503"),
        SampleOutage("mynaportal/records", ago(21, 20), ago(21, 20.1), "status 503"),
        SampleOutage("mynaportal/notices", ago(12, 9), ago(12, 9.05), "status 500"),
        SampleOutage("account-registration/main", ago(38, 9.5), ago(38, 9.7), "status 502"),
        SampleOutage("account-registration/main", ago(1, 11), ago(1, 11.3), "timeout"),
    ]
    blips = [
        SampleBlip(service, ago(day, hour))
        for service, day, hour in (
            ("mynaportal/self-info", 55, 8.25),
            ("mynaportal/self-info", 30, 13.5),
            ("mynaportal/notices", 44, 19.75),
            ("mynaportal/records", 28, 7.0),
            ("mynaportal/records", 2, 15.5),
            ("jpki/main", 16, 3.0),
        )
    ]
    gaps = [SampleGap(None, ago(18, 6), ago(18, 6.75))]  # the probe runner was down
    windows = [
        DemoWindow(
            "info-network", "planned", ago(10, 1), ago(10, 3), "定期保守 (monthly maintenance)"
        ),
        DemoWindow("card-management", "planned", ago(40, 1), ago(40, 5), "OS patching"),
        DemoWindow(
            "jpki", "disaster", ago(25, 3.5), ago(25, 9.5), "地震による停電 (power cut, earthquake)"
        ),
        DemoWindow(
            "mynaportal/notices", "planned", ago(-2, 1), ago(-2, 3), "お知らせ機能の改修 (release)"
        ),
    ]
    return SampleScenario(outages=outages, gaps=gaps, blips=blips, planned=[]), windows


def backfill(
    sessions: sessionmaker[Session],
    catalog: Catalog,
    *,
    now: datetime,
    days: int = 60,
    location: str = "local",
    interval_s: int = 60,
) -> int:
    """Store ``days`` of history up to ``now`` and register its windows; returns the count."""
    scenario, windows = demo_scenario(now)
    start = now.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(days=days)
    checks = catalog.checks()
    params = {
        key: TimelineParams(check.confirm, check.stale_after_ms) for key, check in checks.items()
    }
    records: Iterator[dict[str, object]] = generate(
        catalog, start, now, scenario, locations=(location,), interval_s=interval_s
    )
    stored = 0
    with transaction(sessions) as session:
        for batch in batched(
            (parse_observation(record, checks, "history") for record in records), 50_000
        ):
            stored += store_observations(session, batch, params).stored
        for window in windows:
            add_exclusion(
                session,
                catalog,
                ExclusionRequest(
                    window.scope,
                    window.kind,
                    window.start,
                    window.end,
                    window.reason,
                    retroactive=window.start < now,
                ),
                DEMO_ACTOR,
                now=now,
            )
    return stored
