"""The store on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.errors import Forbidden, InvalidInput, NotFound
from app.runtime import current_revision, downgrade, head_revision, upgrade
from app.sla.timeline import Observation as TimedResult
from app.sla.timeline import build_segments
from app.store import ingest
from app.store.db import make_engine, session_factory, transaction
from app.store.exclusions import (
    ExclusionRequest,
    add_exclusion,
    list_exclusions,
    remove_exclusion,
    update_exclusion,
)
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.models import AuditEntry, CheckSegment, CheckTimeline, Observation
from app.store.tokens import Actor, Role, authenticate, create_token, revoke_token
from app.store.types import from_ms, to_ms

CHECK = "info-network/main/http"
PARAMS = {CHECK: TimelineParams(confirm=2, stale_after_ms=180_000)}
T0 = datetime(2026, 10, 1, tzinfo=UTC)
ADMIN = Actor("admin-token", Role.ADMIN)
OPERATOR = Actor("ops-token", Role.OPERATOR)


@pytest.fixture
def sessions(migrated_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_url)
    yield session_factory(engine)
    engine.dispose()


def observation(minute: int, ok: bool, location: str = "tokyo") -> ObservationIn:
    return ObservationIn(
        CHECK, location, T0 + timedelta(minutes=minute), ok, 10.0, None if ok else "status 503"
    )


def segments(factory: sessionmaker[Session], location: str = "tokyo") -> list[tuple[int, int, str]]:
    with factory() as session:
        rows = session.execute(
            select(CheckSegment)
            .where(CheckSegment.check == CHECK, CheckSegment.location == location)
            .order_by(CheckSegment.start_at)
        ).scalars()
        return [(to_ms(r.start_at), to_ms(r.end_at), r.state) for r in rows]


def test_migrations_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url)
    assert current_revision(engine) == head_revision(database_url)
    tables = set(inspect(engine).get_table_names())
    assert {"observations", "check_segments", "check_timelines", "exclusions", "audit_log",
            "api_tokens", "runner_heartbeats", "report_exports"} <= tables  # fmt: skip
    downgrade(database_url, "base")
    assert current_revision(engine) is None
    assert "observations" not in set(inspect(engine).get_table_names())
    upgrade(database_url)
    assert current_revision(engine) == head_revision(database_url)
    engine.dispose()


def test_duplicates_are_stored_once(sessions: sessionmaker[Session]) -> None:
    batch = [observation(m, True) for m in range(10)]
    with transaction(sessions) as session:
        first = store_observations(session, batch + batch[:3], PARAMS)
    assert (first.stored, first.duplicates) == (10, 3)
    with transaction(sessions) as session:
        again = store_observations(session, batch, PARAMS)
    assert (again.stored, again.duplicates) == (0, 10)
    with sessions() as session:
        assert session.scalar(select(text("count(*)")).select_from(Observation)) == 10
    # The last result (minute 9) holds for stale_after (3 min).
    assert segments(sessions) == [(to_ms(T0), to_ms(T0) + 12 * 60_000, "up")]


def test_failures_are_backdated_and_blips_stay_visible(sessions: sessionmaker[Session]) -> None:
    # Arrive one at a time, as from a live runner.
    for minute, ok in enumerate([True, True, False, True, False, False, False, True]):
        with transaction(sessions) as session:
            store_observations(session, [observation(minute, ok)], PARAMS)
    t = to_ms(T0)
    minute = 60_000
    assert segments(sessions) == [
        (t, t + 2 * minute, "up"),
        (t + 2 * minute, t + 3 * minute, "blip"),
        (t + 3 * minute, t + 4 * minute, "up"),
        (t + 4 * minute, t + 7 * minute, "down"),
        (t + 7 * minute, t + 7 * minute + 180_000, "up"),
    ]
    with sessions() as session:
        timeline = session.get(CheckTimeline, (CHECK, "tokyo"))
        assert timeline is not None and timeline.last_ok is True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_arrival_order_equals_full_rebuild(
    sessions: sessionmaker[Session], seed: int
) -> None:
    rng = random.Random(seed)
    minutes = sorted(rng.sample(range(600), 300))
    states = {m: rng.random() > 0.3 for m in minutes}
    batch = [observation(m, states[m]) for m in minutes]
    rng.shuffle(batch)
    while batch:
        size = rng.randint(1, 40)
        chunk, batch = batch[:size], batch[size:]
        with transaction(sessions) as session:
            store_observations(session, chunk, PARAMS)
    expected = build_segments(
        [TimedResult(to_ms(T0) + m * 60_000, states[m]) for m in minutes], 2, 180_000
    )
    assert segments(sessions) == [(s.start_ms, s.end_ms, s.state.value) for s in expected]


def test_changed_confirmation_relabels_history(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        store_observations(session, [observation(m, m not in (3, 4)) for m in range(8)], PARAMS)
    assert [s[2] for s in segments(sessions)] == ["up", "down", "up"]
    stricter = {CHECK: TimelineParams(confirm=3, stale_after_ms=180_000)}
    with transaction(sessions) as session:
        store_observations(session, [observation(8, True)], stricter)
    assert [s[2] for s in segments(sessions)] == ["up", "blip", "up"]


def test_audit_log_is_append_only(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        create_token(session, name="grafana", role="viewer", actor="cli:root")
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), transaction(sessions) as session:
            session.execute(text(statement))
    with sessions() as session:
        assert [e.actor for e in session.execute(select(AuditEntry)).scalars()] == ["cli:root"]


def test_exclusion_rules_and_audit(sessions: sessionmaker[Session]) -> None:
    catalog = load_catalog()
    now = datetime(2026, 11, 20, tzinfo=UTC)
    future = ExclusionRequest(
        "info-network/main",
        "planned",
        now + timedelta(days=1),
        now + timedelta(days=1, hours=2),
        "patching",
    )
    past = ExclusionRequest(
        "info-network",
        "planned",
        now - timedelta(days=1),
        now - timedelta(hours=22),
        "forgot to register",
    )
    disaster = ExclusionRequest(
        "jpki", "disaster", now - timedelta(days=3), now - timedelta(days=2), "earthquake"
    )
    with transaction(sessions) as session:
        planned = add_exclusion(session, catalog, future, OPERATOR, now=now)
    with pytest.raises(InvalidInput, match="before it starts"), transaction(sessions) as session:
        add_exclusion(session, catalog, past, ADMIN, now=now)
    with pytest.raises(Forbidden, match="admin"), transaction(sessions) as session:
        add_exclusion(
            session,
            catalog,
            replace(past, retroactive=True),
            OPERATOR,
            now=now,
        )
    with pytest.raises(Forbidden, match="disaster"), transaction(sessions) as session:
        add_exclusion(session, catalog, disaster, OPERATOR, now=now)
    with (
        pytest.raises(InvalidInput, match="unknown system 'nope'"),
        transaction(sessions) as session,
    ):
        add_exclusion(
            session,
            catalog,
            replace(future, scope="nope"),
            ADMIN,
            now=now,
        )
    with transaction(sessions) as session:
        add_exclusion(
            session,
            catalog,
            replace(past, retroactive=True),
            ADMIN,
            now=now,
        )
        add_exclusion(session, catalog, disaster, ADMIN, now=now)
    with transaction(sessions) as session:
        update_exclusion(session, catalog, planned.id, actor=OPERATOR, reason="vendor moved it",
                         starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=1), now=now)  # fmt: skip
    with pytest.raises(Forbidden), transaction(sessions) as session:
        remove_exclusion(session, planned.id, actor=OPERATOR, reason="cancelled", now=now)
    with pytest.raises(InvalidInput, match="reason"), transaction(sessions) as session:
        remove_exclusion(session, planned.id, actor=ADMIN, reason=" ", now=now)
    with transaction(sessions) as session:
        remove_exclusion(session, planned.id, actor=ADMIN, reason="cancelled", now=now)
    with pytest.raises(NotFound), transaction(sessions) as session:
        remove_exclusion(session, planned.id, actor=ADMIN, reason="again", now=now)
    with sessions() as session:
        active = list_exclusions(session)
        assert sorted(row.kind for row in active) == ["disaster", "planned"]
        assert all(row.retroactive for row in active if row.kind == "planned")
        log = list(session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
    assert [(e.action, e.actor) for e in log] == [
        ("create", "ops-token"),
        ("create", "admin-token"),
        ("create", "admin-token"),
        ("update", "ops-token"),
        ("delete", "admin-token"),
    ]
    assert log[3].before is not None and log[3].after is not None
    assert log[3].before["start"] != log[3].after["start"] and log[3].reason == "vendor moved it"
    assert log[4].reason == "cancelled" and log[4].after is None


def test_tokens_store_only_a_hash(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        _, secret = create_token(session, name="agent-osaka", role="prober", actor="cli:root")
    with sessions() as session:
        stored = session.execute(text("SELECT token_sha256, prefix FROM api_tokens")).one()
        assert secret not in stored[0] and len(stored[1]) < len(secret) // 2
    with transaction(sessions) as session:
        actor = authenticate(session, secret)
        assert actor == Actor("agent-osaka", Role.PROBER)
        assert authenticate(session, secret + "x") is None
        revoke_token(session, "agent-osaka", actor="cli:root")
    with transaction(sessions) as session:
        assert authenticate(session, secret) is None


def test_instants_round_trip_as_aware_utc(sessions: sessionmaker[Session]) -> None:
    jst_instant = datetime.fromisoformat("2026-10-01T09:00:00.123+09:00")
    with transaction(sessions) as session:
        store_observations(session, [ObservationIn(CHECK, "tokyo", jst_instant, True)], PARAMS)
    with sessions() as session:
        stored = session.execute(select(Observation.observed_at)).scalar_one()
    assert stored == datetime(2026, 10, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert stored.tzinfo is not None and from_ms(to_ms(stored)) == stored


def test_stored_rows_equal_the_input_and_on_stored_sees_each_new_one_once(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks so one call crosses several INSERT statements on PostgreSQL.
    monkeypatch.setattr(ingest, "INSERT_CHUNK", 4)
    instants = [T0 + timedelta(seconds=10 * n, milliseconds=n * 37 % 1000) for n in range(11)]
    # Integer, float and missing latencies and details, in one batch: each column travels
    # as one typed array on PostgreSQL.
    sent = [
        ObservationIn(
            CHECK,
            "tokyo",
            at,
            n % 3 != 1,
            [7, 12.25, None][n % 3],
            None if n % 3 != 1 else f"status 503 — 応答なし {n}",
        )
        for n, at in enumerate(instants)
    ]
    already = sent[2:5]
    with transaction(sessions) as session:
        store_observations(session, already, PARAMS)
    seen: list[ObservationIn] = []
    with transaction(sessions) as session:
        result = store_observations(
            session, [*sent, sent[0], sent[7]], PARAMS, on_stored=seen.append
        )
    assert (result.received, result.stored, result.duplicates) == (13, 8, 5)
    assert sorted(seen, key=lambda o: o.observed_at) == [o for o in sent if o not in already]
    with sessions() as session:
        rows = session.execute(
            select(
                Observation.observed_at, Observation.ok, Observation.latency_ms, Observation.detail
            ).order_by(Observation.observed_at)
        ).all()
    assert [tuple(row) for row in rows] == [
        (o.observed_at, o.ok, None if o.latency_ms is None else float(o.latency_ms), o.detail)
        for o in sent
    ]


def test_late_observations_keep_the_latest_on_the_timeline_row(
    sessions: sessionmaker[Session],
) -> None:
    def latest() -> tuple[datetime | None, bool | None, str | None]:
        with sessions() as session:
            row = session.get(CheckTimeline, (CHECK, "tokyo"))
            assert row is not None
            return row.last_observed_at, row.last_ok, row.last_detail

    with transaction(sessions) as session:
        store_observations(session, [observation(m, True) for m in (10, 11, 12)], PARAMS)
    with transaction(sessions) as session:
        store_observations(session, [observation(m, False) for m in (4, 5)], PARAMS)
    assert latest() == (T0 + timedelta(minutes=12), True, None)
    with transaction(sessions) as session:
        store_observations(session, [observation(20, False), observation(3, True)], PARAMS)
    assert latest() == (T0 + timedelta(minutes=20), False, "status 503")
    # The late failures at 4 and 5 are a confirmed run (confirm=2) after the success at 3;
    # the failure at 20 is alone so far: a blip.
    t, minute = to_ms(T0), 60_000
    assert segments(sessions) == [
        (t + 3 * minute, t + 4 * minute, "up"),
        (t + 4 * minute, t + 8 * minute, "down"),
        (t + 10 * minute, t + 15 * minute, "up"),
        (t + 20 * minute, t + 23 * minute, "blip"),
    ]


def test_failing_checks_are_those_whose_latest_observation_failed(migrated_url: str) -> None:
    from app.store.db import make_engine, session_factory, transaction
    from app.store.models import Observation
    from app.store.probe_state import failing_checks

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    sessions = session_factory(make_engine(migrated_url))
    history = {
        "a/b/down": [True, False, False],
        "a/b/recovered": [False, True],
        "a/b/up": [True, True],
        "a/b/other-location": [True],
    }
    with transaction(sessions) as session:
        for check, results in history.items():
            for n, ok in enumerate(results):
                session.add(Observation(check=check, location="tokyo", observed_at=t0 + timedelta(seconds=n), ok=ok, latency_ms=1.0, detail=None))  # fmt: skip
        session.add(Observation(check="a/b/other-location", location="osaka", observed_at=t0 + timedelta(seconds=5), ok=False, latency_ms=None, detail="x"))  # fmt: skip
    with sessions() as session:
        found = failing_checks(session, "tokyo", set(history), t0)
        assert found == {"a/b/down"}
        assert failing_checks(session, "tokyo", {"a/b/up"}, t0) == set()
        assert failing_checks(session, "tokyo", set(history), t0 + timedelta(minutes=1)) == set()


@pytest.mark.postgres
def test_a_batch_reads_only_the_timeline_rows_of_its_own_checks(postgres_url: str) -> None:
    """Storing an agent's batch (200 checks of a 10,000-check location) looks its checks'
    timeline rows up by key: reading every timeline of the location per batch made
    PostgreSQL's time per post grow with the whole catalog."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        sessions = session_factory(engine)
        start = datetime(2026, 10, 1, tzinfo=UTC)
        with transaction(sessions) as session:
            # 10,000 timelines, each up for an hour until its last (successful) observation.
            for statement in (
                "INSERT INTO check_timelines "
                '("check", location, confirm, stale_after_ms, last_observed_at, last_ok) '
                "SELECT 'sys/svc' || n || '/http', 'tokyo', 2, 30000, :last, true "
                "FROM generate_series(1, 10000) AS n",
                'INSERT INTO check_segments ("check", location, start_at, end_at, state) '
                "SELECT 'sys/svc' || n || '/http', 'tokyo', :first, :last, 'up' "
                "FROM generate_series(1, 10000) AS n",
            ):
                session.execute(
                    text(statement), {"first": start - timedelta(hours=1), "last": start}
                )
        # No ANALYZE: as before autovacuum first analyses the table (a new database, checks
        # just added), when the planner guesses that a location holds few of the rows.
        checks = [f"sys/svc{n}/http" for n in range(1, 10001, 50)]
        params = {check: TimelineParams(2, 30_000) for check in checks}
        batch = [
            ObservationIn(check, "tokyo", start + timedelta(seconds=10), True) for check in checks
        ]
        # This connection's counters of rows fetched from the table through an index: the
        # lock and the read of the batch's rows. (The update of their last result may join
        # the batch to one sequential pass over the table instead: counted apart.)
        fetched = text(
            "SELECT coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
            "WHERE relname = 'check_timelines'"
        )
        with transaction(sessions) as session:
            before = session.execute(fetched).scalar_one()
            result = store_observations(session, batch, params)
            read = session.execute(fetched).scalar_one() - before
        assert result.stored == len(batch) == 200
        # A few per check of the batch (its row locked, read, updated), not the location's.
        assert read <= 5 * len(batch), f"{read} timeline rows read for {len(batch)} checks"
    finally:
        engine.dispose()
