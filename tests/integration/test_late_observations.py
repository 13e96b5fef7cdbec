"""Late observations inside a closed month leave one audit entry per storing call, and the
amendment they cause names them (SLA-SEMANTICS §9). On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.months import close_month, latest_version_summary
from app.reports.labels import version_caption
from app.sla import periods
from app.store import audit
from app.store.db import transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.late import LateAudit, store_audited
from app.store.sink import StoreSink
from tests.support.api import Api, observation, open_api
from tests.support.cli import KadouCli

JST = ZoneInfo("Asia/Tokyo")
CHECK = "jpki/main/http"
PARAMS = {CHECK: TimelineParams(2, 180_000)}
OCTOBER = periods.month(2026, 10, "Asia/Tokyo")
CLOSING = datetime(2026, 11, 1, 0, 10, tzinfo=JST)
NOW = datetime(2026, 11, 15, 9, tzinfo=JST)
LATE = datetime(2026, 10, 25, 3, tzinfo=JST)


def _minutes(start: datetime, count: int, failing: range, location: str = "tokyo") -> list:
    return [
        ObservationIn(CHECK, location, start + timedelta(minutes=m), m not in failing)
        for m in range(count)
    ]


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    yield from open_api(database_url, NOW)


def _close_october(api: Api) -> None:
    with transaction(api.runtime.sessions) as session:
        store_observations(
            session, _minutes(datetime(2026, 10, 20, 9, tzinfo=JST), 60, range(0)), PARAMS
        )
    runtime = api.runtime
    assert close_month(runtime.sessions, runtime.catalog, OCTOBER, actor="export", now=CLOSING)


def _late_entries(api: Api) -> list:
    with api.runtime.sessions() as session:
        return audit.entries(session, entity="observations")


def test_an_api_batch_into_a_closed_month_is_audited_and_named_by_the_amendment(api: Api) -> None:
    _close_october(api)
    # Three results of 25 October delivered late from tokyo, two failures among them.
    late = [observation(CHECK, LATE + timedelta(minutes=m), m == 0) for m in range(3)]
    # ... in the same batch as a live result of November, which is not late.
    live = observation(CHECK, NOW - timedelta(minutes=1), True)
    response = api.post("/api/v1/results", {"observations": [*late, live]}, role="prober")
    assert response.status_code == 200, response.text

    (entry,) = _late_entries(api)
    assert entry.actor == "prober-token" and entry.action == "late"
    assert entry.entity_id == "2026-10"
    assert entry.after["count"] == 3
    assert entry.after["checks"] == [CHECK] and entry.after["locations"] == ["tokyo"]
    assert entry.after["first_observed_at"] == LATE.astimezone(UTC).isoformat()
    assert (
        entry.after["last_observed_at"] == (LATE + timedelta(minutes=2)).astimezone(UTC).isoformat()
    )
    assert entry.after["months"]["2026-10"]["count"] == 3

    # The same batch re-sent stores nothing, so it is not audited again.
    again = api.post("/api/v1/results", {"observations": [*late, live]}, role="prober")
    assert again.status_code == 200 and again.json()["stored"] == 0
    assert len(_late_entries(api)) == 1

    runtime = api.runtime
    amended = close_month(runtime.sessions, runtime.catalog, OCTOBER, actor="export", now=NOW)
    assert amended is not None and amended.version == 2
    assert amended.audit_entry_ids == [entry.id]
    with runtime.sessions() as session:
        summary = latest_version_summary(session, "2026-10", "Asia/Tokyo")
    assert summary is not None
    assert summary["reasons"][0]["late_observations"]["count"] == 3
    assert version_caption(summary, "ja") == "第2版 — 2026-11-15 改訂: 遅延した観測 3 件 (tokyo)"
    assert version_caption(summary, "en") == (
        "Version 2 — amended 2026-11-15: 3 late observations (tokyo)"
    )


def test_live_results_and_open_months_leave_no_entry(api: Api) -> None:
    # Nothing is closed: a result of October is merely older, not late for a closed month.
    old = observation(CHECK, LATE, True)
    assert api.post("/api/v1/results", {"observations": [old]}, role="prober").status_code == 200
    _close_october(api)
    live = [observation(CHECK, NOW - timedelta(minutes=m), True) for m in range(3, 0, -1)]
    assert api.post("/api/v1/results", {"observations": live}, role="prober").status_code == 200
    assert _late_entries(api) == []


def test_the_live_path_lists_nothing_as_late(migrated_url: str) -> None:
    """What keeps the common case cheap: results of the current month never reach the
    closed-month lookup (``IngestResult.late`` stays empty), whether they extend the
    timeline's last segment or not."""
    from app.store.db import make_engine, session_factory

    sessions = session_factory(make_engine(migrated_url))
    guard = LateAudit("Asia/Tokyo")
    november = datetime(2026, 11, 15, 8, tzinfo=JST)
    for start, failing in ((november, range(0)), (november + timedelta(minutes=10), range(2, 4))):
        with transaction(sessions) as session:
            result = store_audited(
                session, _minutes(start, 10, failing), PARAMS, guard, actor="t", now=NOW
            )
        assert result.stored == 10 and result.late == []
    # The same call with an October batch lists it (and finds no closed month).
    with transaction(sessions) as session:
        result = store_audited(
            session, _minutes(LATE, 5, range(0)), PARAMS, guard, actor="t", now=NOW
        )
        assert len(result.late) == 5
        assert audit.entries(session, entity="observations") == []


def test_an_import_into_a_closed_month_is_one_entry_for_the_whole_file(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _close_october(api)
    monkeypatch.setattr("app.cli.imports.IMPORT_BATCH", 4)  # several batches, one entry
    lines = [
        observation(CHECK, LATE + timedelta(minutes=m), True, location="osaka") for m in range(10)
    ]
    file = tmp_path / "late.jsonl"
    file.write_text("".join(json.dumps(item) + "\n" for item in lines))
    kadou = KadouCli(monkeypatch, str(api.runtime.settings.database_url))
    assert "imported 10 observations" in kadou("import", str(file))
    (entry,) = _late_entries(api)
    assert entry.actor.startswith("cli:")
    assert entry.after["count"] == 10 and entry.after["locations"] == ["osaka"]


@dataclass(frozen=True)
class _Beat:
    runner_id: str
    location: str
    at: datetime
    interval_ms: int


@dataclass(frozen=True)
class _Record:
    check: str
    location: str
    observed_at: datetime
    ok: bool
    latency_ms: float | None = None
    detail: str | None = None
    end_of_observation: bool = False


def test_a_spool_delivered_by_the_live_sink_is_audited_under_the_runner(api: Api) -> None:
    _close_october(api)
    runtime = api.runtime
    sink = StoreSink(runtime.sessions, runtime.timeline_params, late=runtime.late_audit)
    records = [_Record(CHECK, "tokyo", LATE + timedelta(minutes=m), False) for m in range(4)]
    beat = _Beat("tokyo-1", "tokyo", datetime.now(UTC), 10_000)
    asyncio.run(sink.write(records, beat))
    (entry,) = _late_entries(api)
    assert entry.actor == "runner:tokyo-1" and entry.after["count"] == 4
