"""Monthly partitions of observations on PostgreSQL: the migration, partitions made ahead,
the default partition, and retention dropping a closed month's partition whole."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from app import retention
from app.evidence import verify_bundle
from app.retention import prune_observations
from app.runtime import downgrade, open_runtime, upgrade
from app.settings import Settings
from app.store import partitions
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, rebuild_timelines, store_observations
from app.store.stats import database_size
from tests.support.cli import KadouCli

pytestmark = pytest.mark.postgres

JST = ZoneInfo("Asia/Tokyo")
CHECK = "jpki/main/http"
OTHER = "mynaportal/records/http"
GONE = "card-management/main/http"
# The built-in catalog's confirmation parameters, so the CLI's runtime agrees with them.
PARAMS = {check: TimelineParams(2, 90_000) for check in (CHECK, OTHER, GONE)}
DAY = timedelta(days=1)


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def _series(check: str, start: datetime, hours: int, failing: set[int]) -> list[ObservationIn]:
    return [
        ObservationIn(check, "tokyo", start + timedelta(hours=i), i not in failing)
        for i in range(hours)
    ]


def _store(engine: Engine, items: list[ObservationIn]) -> None:
    with transaction(session_factory(engine)) as session:
        store_observations(session, items, PARAMS)


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    'SELECT "check", location, observed_at, ok, latency_ms, detail '
                    'FROM observations ORDER BY "check", location, observed_at'
                )
            )
        ]


def _segments(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    'SELECT "check", location, start_at, end_at, state FROM check_segments '
                    'ORDER BY "check", location, start_at'
                )
            )
        ]


def _where(engine: Engine) -> dict[datetime, str]:
    """Each observation's instant and the partition it is stored in."""
    with engine.connect() as connection:
        return {
            at: name
            for at, name in connection.execute(
                text("SELECT observed_at, tableoid::regclass::text FROM observations")
            )
        }


def _layout(engine: Engine) -> list[partitions.Partition]:
    with engine.connect() as connection:
        return partitions.partitions(connection)


def _month_start(now: datetime, months_ahead: int) -> datetime:
    local = now.astimezone(JST)
    index = local.year * 12 + local.month - 1 + months_ahead
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=JST)


def test_the_migration_keeps_every_row_and_the_timeline(postgres_url: str, engine: Engine) -> None:
    upgrade(postgres_url, "0005")
    now = datetime.now(UTC)
    history = [
        *_series(CHECK, datetime(2026, 9, 30, 20, tzinfo=JST), 30, {3, 4, 5, 6}),
        *_series(OTHER, datetime(2026, 10, 15, tzinfo=JST), 10, {2}),
        # A runner's clock ahead: next-but-one month (gets a partition) and half a year on
        # (stays in the default partition).
        *_series(CHECK, _month_start(now, 2) + DAY, 3, set()),
        *_series(OTHER, _month_start(now, 6) + DAY, 3, {1}),
    ]
    _store(engine, history)
    rows, segments = _rows(engine), _segments(engine)

    upgrade(postgres_url)
    assert _rows(engine) == rows
    assert _segments(engine) == segments
    layout = _layout(engine)
    legacy = f"observations_before_{_month_start(now, 1):%Y_%m}"
    assert layout[0].name == legacy and layout[0].start is None
    assert layout[0].end == _month_start(now, 1)
    where = _where(engine)
    assert where[datetime(2026, 10, 1, 1, tzinfo=JST)] == legacy
    assert where[_month_start(now, 2) + DAY] == f"observations_{_month_start(now, 2):%Y_%m}"
    assert where[_month_start(now, 6) + DAY] == partitions.DEFAULT
    # The timeline rebuilt from the partitioned table is the one built before.
    with transaction(session_factory(engine)) as session:
        rebuild_timelines(session, PARAMS)
    assert _segments(engine) == segments
    # Re-sending stored rows still finds them through the primary key of the partitions.
    _store(engine, history)
    assert _rows(engine) == rows

    downgrade(postgres_url, "0005")
    with engine.connect() as connection:
        assert not partitions.is_partitioned(connection)
    assert _rows(engine) == rows
    upgrade(postgres_url)
    assert _rows(engine) == rows


def test_an_empty_table_gets_the_partitions_ahead(postgres_url: str, engine: Engine) -> None:
    upgrade(postgres_url)
    now = datetime.now(UTC)
    names = [item.name for item in _layout(engine)]
    assert names == [
        *(f"observations_{_month_start(now, ahead):%Y_%m}" for ahead in range(4)),
        partitions.DEFAULT,
    ]


def test_rows_far_in_the_past_and_future_are_stored(
    postgres_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kadou = KadouCli(monkeypatch, postgres_url)
    kadou("db", "upgrade")
    past = datetime(2001, 1, 10, tzinfo=JST)
    future = datetime(2099, 1, 10, tzinfo=JST)
    _store(engine, [ObservationIn(CHECK, "tokyo", future, True)])
    # An import of old history (the oldest an import takes): no partition covers it, the
    # default one takes it. A result far ahead comes straight through the store.
    path = tmp_path / "old.jsonl"
    path.write_text(
        "".join(
            f'{{"check": "{CHECK}", "location": "tokyo", '
            f'"observed_at": "{(past + timedelta(minutes=i)).isoformat()}", "ok": true}}\n'
            for i in range(5)
        )
    )
    assert kadou("import", str(path)).startswith("imported 5 observations")
    assert set(_where(engine).values()) == {partitions.DEFAULT}
    segments = _segments(engine)

    # Once partitions reach those months, their rows move out of the default partition.
    sessions = session_factory(engine)
    created = partitions.maintain(sessions, "Asia/Tokyo", future)
    assert created[0] == "observations_2099_01" and len(created) == 4
    partitions.maintain(sessions, "Asia/Tokyo", past)
    where = _where(engine)
    assert where[future] == "observations_2099_01"
    assert {where[past + timedelta(minutes=i)] for i in range(5)} == {"observations_2001_01"}
    assert len(where) == 6 and _segments(engine) == segments


def test_two_processes_create_the_partitions_ahead_once(engine: Engine, postgres_url: str) -> None:
    upgrade(postgres_url)
    sessions = session_factory(engine)
    when = datetime(2040, 5, 20, tzinfo=UTC)
    start = threading.Barrier(2)
    created: list[list[str]] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            start.wait()
            created.append(partitions.maintain(sessions, "Asia/Tokyo", when))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    expected = ["observations_2040_05", "observations_2040_06", "observations_2040_07"]
    expected.append("observations_2040_08")
    assert sorted(created, key=len) == [[], expected]
    names = [item.name for item in _layout(engine)]
    assert len(names) == len(set(names)) and set(expected) <= set(names)


def test_another_time_zone_fills_the_gaps(engine: Engine, postgres_url: str) -> None:
    upgrade(postgres_url)
    sessions = session_factory(engine)
    partitions.maintain(sessions, "Asia/Tokyo", datetime(2041, 1, 15, tzinfo=UTC))
    created = partitions.maintain(sessions, "UTC", datetime(2041, 1, 15, tzinfo=UTC))
    # Tokyo's January to April already cover UTC's January to March; April's last nine
    # hours (after Tokyo's April ends) get a partition of their own.
    assert created == ["observations_2041_04_from_20410430t1500"]
    layout = [item for item in _layout(engine) if not item.is_default]
    for before, after in itertools.pairwise(layout):
        assert before.end is not None and after.start is not None and before.end <= after.start


@pytest.fixture
def months(postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> KadouCli:
    """September to November 2026 in Tokyo, each month with a partition of its own.

    Two checks probed hourly; ``mynaportal`` is down from 10 October 20:00 to 20 October
    (a series whose first success in October comes late).
    """
    monkeypatch.setenv("KADOU_REPORT_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("KADOU_OBSERVATION_RETENTION", "20d")
    kadou = KadouCli(monkeypatch, postgres_url)
    kadou("db", "upgrade")
    engine = make_engine(postgres_url)
    try:
        partitions.maintain(session_factory(engine), "Asia/Tokyo", datetime(2026, 9, 5, tzinfo=JST))
        start = datetime(2026, 9, 1, tzinfo=JST)
        hours = int((datetime(2026, 11, 25, tzinfo=JST) - start) / timedelta(hours=1))
        down_from = int((datetime(2026, 9, 30, 20, tzinfo=JST) - start) / timedelta(hours=1))
        down = set(range(down_from, down_from + 24 * 20))
        _store(engine, _series(CHECK, start, hours, {5, 6, 7}))
        _store(engine, _series(OTHER, start, hours, down))
    finally:
        engine.dispose()
    kadou("month", "close", "2026-09")
    kadou("month", "close", "2026-10")
    return kadou


class _December5(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> _December5:  # type: ignore[override]
        return cls(2026, 12, 5, tzinfo=UTC)


def test_a_prune_drops_the_partition_of_a_closed_month(
    months: KadouCli,
    postgres_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, segments = _rows(engine), _segments(engine)
    monkeypatch.setattr(retention, "datetime", _December5)
    dry = months("db", "prune", "--dry-run")
    # November is open: the cut is the margin before it (29 October 15:00 UTC). October's
    # partition holds the cut and stays; September's goes whole.
    assert "2026-11 is not closed yet: observations from 2026-10-29T15:00:00+00:00 on" in dry
    assert "partition observations_2026_09 (2026-08-31T15:00:00+00:00 to " in dry
    assert "would drop it whole, 1,440 observations" in dry
    assert "observations_2026_10" not in dry
    assert len(_rows(engine)) == len(rows)

    runtime = open_runtime(Settings(database_url=postgres_url, report_dir=tmp_path / "reports"))
    result = prune_observations(
        runtime.sessions,
        runtime.catalog,
        "Asia/Tokyo",
        tmp_path / "reports",
        20 * 86_400_000,
        actor="test",
        now=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert result.partitions_dropped == ["observations_2026_09"]
    assert "observations_2026_09" not in {item.name for item in _layout(engine)}
    for month in ("2026-09", "2026-10"):
        assert verify_bundle(tmp_path / "reports" / f"kadou-{month}-evidence.zip").identical
    # What stays: each series from its first success in October on (mynaportal's comes on
    # 20 October), and everything after the cut.
    cut = datetime(2026, 10, 29, 15, tzinfo=UTC)
    october = datetime(2026, 10, 1, tzinfo=JST)
    first = {
        CHECK: october,
        OTHER: min(r[2] for r in rows if r[0] == OTHER and r[2] >= october and r[3]),
    }
    assert first[OTHER] > datetime(2026, 10, 20, tzinfo=JST)
    kept = [row for row in rows if row[2] >= first[row[0]]]
    assert _rows(engine) == kept
    assert all(row in kept for row in rows if row[2] >= cut)
    assert result.observations == len(rows) - len(kept)
    assert _segments(engine) == segments
    # A second prune finds nothing more to drop or delete.
    again = prune_observations(
        runtime.sessions,
        runtime.catalog,
        "Asia/Tokyo",
        tmp_path / "reports",
        20 * 86_400_000,
        actor="test",
        now=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert again.observations == 0 and not again.partitions_dropped


def test_a_partition_with_rows_to_keep_stays(
    months: KadouCli, postgres_url: str, engine: Engine, tmp_path: Path
) -> None:
    # A series whose last success before the cut is in September (it stopped being probed
    # there): that row stays, so September's partition stays; its other rows go.
    _store(engine, _series(GONE, datetime(2026, 9, 3, tzinfo=JST), 3, set()))
    runtime = open_runtime(Settings(database_url=postgres_url, report_dir=tmp_path / "reports"))
    with runtime.sessions() as session:
        plan = retention.plan_prune(
            session,
            20 * 86_400_000,
            "Asia/Tokyo",
            tmp_path / "reports",
            now=datetime(2026, 12, 5, tzinfo=UTC),
        )
    assert plan is not None
    assert [(p.partition.name, p.rows, p.series_kept) for p in plan.partitions] == [
        ("observations_2026_09", 1_443, 1)
    ]
    result = prune_observations(
        runtime.sessions,
        runtime.catalog,
        "Asia/Tokyo",
        tmp_path / "reports",
        20 * 86_400_000,
        actor="test",
        now=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert not result.partitions_dropped
    with engine.connect() as connection:
        left = connection.execute(text("SELECT count(*) FROM observations_2026_09")).scalar_one()
    assert left == 1


def test_stats_show_each_partition(
    engine: Engine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kadou = KadouCli(monkeypatch, postgres_url)
    kadou("db", "upgrade")
    _store(engine, _series(CHECK, datetime(2001, 1, 1, tzinfo=JST), 10, set()))
    size = database_size(engine)
    observations = size.table("observations")
    assert observations is not None and observations.rows == 10
    assert [item.name for item in size.partitions][-1] == partitions.DEFAULT
    assert sum(item.rows for item in size.partitions) == 10
    assert sum(item.total_bytes or 0 for item in size.partitions) == observations.total_bytes
    lines = kadou("db", "stats").splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("observations "))
    assert lines[table].split()[1] == "10"
    # The partitions under the table's line, the one that took the rows with its count.
    below = [line.split() for line in lines[table + 1 : table + 1 + len(size.partitions)]]
    assert [row[0] for row in below][-1] == "default" and below[-1][1] == "10"


def test_a_partition_is_dropped_only_when_every_row_of_it_goes(
    engine: Engine, postgres_url: str
) -> None:
    upgrade(postgres_url)
    partitions.maintain(session_factory(engine), "Asia/Tokyo", datetime(2040, 5, 20, tzinfo=UTC))
    at = datetime(2040, 5, 10, tzinfo=JST)
    _store(engine, [*_series(CHECK, at, 3, set()), *_series(OTHER, at, 3, {1})])
    may = next(item for item in _layout(engine) if item.name == "observations_2040_05")
    after = at + timedelta(hours=3)
    cases = [
        ({}, False),  # no series has a bound: everything stays
        ({(CHECK, "tokyo"): after}, False),  # the other series keeps its rows
        ({(CHECK, "tokyo"): after, (OTHER, "tokyo"): at + timedelta(hours=2)}, False),
        ({(CHECK, "tokyo"): after, (OTHER, "tokyo"): after}, True),
    ]
    for bounds, dropped in cases:
        with session_factory(engine)() as session, session.begin():
            assert partitions.drop_if_all_pruned(session.connection(), may, bounds) is dropped
        assert len(_rows(engine)) == (0 if dropped else 6)
