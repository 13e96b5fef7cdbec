"""A deterministic sample of observations: a month of the five systems with realistic events.

Used by the quick start (``kadou sample``), the benchmarks and tests. The same arguments
always give the same lines, so the sample report is reproducible.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app.catalog.model import Catalog


@dataclass(frozen=True)
class SampleOutage:
    """Every probe of ``service`` in [start, end) fails with ``detail``."""

    service: str
    start: datetime
    end: datetime
    detail: str = "status 503"


@dataclass(frozen=True)
class SampleGap:
    """No observations at all for ``service`` (None: every service) in [start, end)."""

    service: str | None
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SampleBlip:
    service: str
    at: datetime
    detail: str = "timeout"


@dataclass(frozen=True)
class SampleScenario:
    outages: Sequence[SampleOutage]
    gaps: Sequence[SampleGap]
    blips: Sequence[SampleBlip]
    planned: Sequence[tuple[str, datetime, datetime, str]]  # scope, start, end, reason


def default_scenario(year: int, month: int, tz: str) -> SampleScenario:
    """The events of the bundled sample month, placed relative to the month's start."""
    zone = ZoneInfo(tz)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(year, month, day, hour, minute, tzinfo=zone)

    return SampleScenario(
        outages=[
            # Inside a planned window from 01:00 to 03:00, then overrunning it by 20 min.
            SampleOutage("info-network/main", at(4, 2, 30), at(4, 3, 20), "status 503"),
            SampleOutage("jpki/main", at(9, 14, 5), at(9, 14, 41), "connect refused"),
            SampleOutage("card-management/main", at(17, 10, 0), at(17, 11, 5), "timeout"),
            SampleOutage("mynaportal/records", at(21, 20, 0), at(21, 20, 6), "status 503"),
            SampleOutage("account-registration/main", at(25, 9, 30), at(25, 9, 42), "status 502"),
        ],
        gaps=[SampleGap(None, at(15, 12, 0), at(15, 12, 30))],
        blips=[
            SampleBlip("mynaportal/self-info", at(6, 8, 15)),
            SampleBlip("mynaportal/notices", at(12, 19, 40)),
            SampleBlip("mynaportal/records", at(28, 7, 5)),
        ],
        planned=[
            ("info-network", at(4, 1), at(4, 3), "定期保守 (monthly maintenance)"),
            ("card-management", at(18, 1), at(18, 5), "OS patching"),
        ],
    )


def month_bounds(year: int, month: int, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start, end


def generate(
    catalog: Catalog,
    start: datetime,
    end: datetime,
    scenario: SampleScenario,
    *,
    locations: Sequence[str] = ("tokyo",),
    interval_s: int | None = None,
    seed: int = 2026,
) -> Iterator[dict[str, object]]:
    """Observations for every check of ``catalog`` from ``start`` to ``end``, in time order."""
    rng = random.Random(seed)
    checks = [
        (service.key, check.key, interval_s or check.interval_ms // 1000)
        for service in catalog.services()
        for check in service.checks
    ]
    for service_key, check_key, interval in checks:
        outages = [o for o in scenario.outages if o.service == service_key]
        gaps = [g for g in scenario.gaps if g.service in (None, service_key)]
        blips = {b.at: b for b in scenario.blips if b.service == service_key}
        for location in locations:
            at = start
            step = timedelta(seconds=interval)
            while at < end:
                if any(gap.start <= at < gap.end for gap in gaps):
                    at += step
                    continue
                failing = next((o for o in outages if o.start <= at < o.end), None)
                blip = blips.get(at)
                ok = failing is None and blip is None
                detail = failing.detail if failing else (blip.detail if blip else None)
                latency = (
                    None
                    if detail in ("timeout", "connect refused")
                    else round(rng.uniform(8, 40), 1)
                )
                yield {
                    "check": check_key,
                    "location": location,
                    "observed_at": at.isoformat(),
                    "ok": ok,
                    "latency_ms": latency,
                    "detail": detail,
                }
                at += step


def write_json_lines(records: Iterator[dict[str, object]], path: str) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count
