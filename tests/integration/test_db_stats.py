"""``kadou db stats``: rows and bytes per table on both engines, from the engine itself."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.stats import database_size
from tests.support.cli import KadouCli

JST = ZoneInfo("Asia/Tokyo")
COUNT = 5_000


def store(url: str, count: int) -> None:
    engine = make_engine(url)
    start = datetime(2026, 10, 1, tzinfo=JST)
    batch = [
        ObservationIn("jpki/main/http", "tokyo", start + timedelta(seconds=10 * i), i % 97 != 0)
        for i in range(count)
    ]
    with transaction(session_factory(engine)) as session:
        store_observations(session, batch, {"jpki/main/http": TimelineParams(2, 30_000)})
    engine.dispose()


def test_sizes_come_from_the_engine_and_grow_with_the_observations(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        empty = database_size(engine).table("observations")
        assert empty is not None and empty.rows == 0 and empty.bytes_per_row is None
        store(migrated_url, COUNT)
        size = database_size(engine)
    finally:
        engine.dispose()
    observations = size.table("observations")
    assert observations is not None and observations.rows == COUNT
    assert observations.table_bytes is not None and observations.index_bytes is not None
    assert observations.total_bytes is not None and empty.total_bytes is not None
    # Each stored observation costs its key and values at least: far more than 20 bytes,
    # far less than a kilobyte. PostgreSQL keeps the primary key apart from the rows;
    # SQLite stores them in the key's b-tree (a table without rowid).
    if size.engine == "postgresql":
        assert observations.index_bytes > 0
    assert observations.total_bytes - empty.total_bytes > 20 * COUNT
    assert observations.bytes_per_row is not None and 20 < observations.bytes_per_row < 1000
    assert "alembic_version" not in {item.name for item in size.tables}
    assert sum(item.total_bytes or 0 for item in size.tables) <= size.total_bytes


@pytest.mark.postgres
def test_estimated_rows_come_from_the_statistics(postgres_url: str) -> None:
    from app.runtime import upgrade

    upgrade(postgres_url)
    store(postgres_url, COUNT)
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE observations"))
            connection.commit()
        observations = database_size(engine, estimate_rows=True).table("observations")
    finally:
        engine.dispose()
    assert observations is not None and observations.rows_estimated
    assert abs(observations.rows - COUNT) <= COUNT // 10


def test_the_command_prints_every_table_and_the_cost_of_an_observation(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    kadou = KadouCli(monkeypatch, database_url)
    kadou("db", "upgrade")
    store(database_url, COUNT)
    output = kadou("db", "stats")
    line = next(row for row in output.splitlines() if row.startswith("observations "))
    assert f"{COUNT:,}" in line.split()
    assert re.search(r"^\d+\.\d bytes per stored observation \(data and indexes\)$", output, re.M)
    for name in ("check_segments", "audit_log", "exclusions", "report_exports"):
        assert re.search(rf"^{name} +\d", output, re.M), name


def test_the_command_wants_a_current_schema(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    output = KadouCli(monkeypatch, sqlite_url)("db", "stats", expect=2)
    assert "kadou db upgrade" in output and "Traceback" not in output
