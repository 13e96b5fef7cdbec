"""The stored timeline is the core's, whatever path and order the observations take.

The properties of ``tests/unit/test_sla_timeline.py`` again, through the real store on a
SQLite file and a PostgreSQL database: observations and end-of-observation marks arrive in
random batches and orders, through the live fast path and the core's recomputation, and
after every batch the stored segments equal a full rebuild of everything stored so far.
Each example writes its own location, so one database serves every example.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from app.runtime import downgrade, upgrade
from app.sla.timeline import Observation as TimedResult
from app.sla.timeline import build_segments
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import (
    ObservationIn,
    TimelineParams,
    rebuild_timelines,
    store_observations,
    update_timeline,
)
from app.store.models import CheckSegment, CheckTimeline, EndMark
from app.store.types import from_ms, to_ms

CHECK = "info-network/main/http"
OTHER = "jpki/main/http"
T0_MS = to_ms(datetime(2026, 10, 1, tzinfo=UTC))
SECOND = 1000
examples = itertools.count()


@pytest.fixture
def sessions(migrated_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_url)
    yield session_factory(engine)
    engine.dispose()


def stored_segments(
    factory: sessionmaker[Session], location: str, check: str = CHECK
) -> list[tuple[int, int, str]]:
    with factory() as session:
        rows = session.execute(
            select(CheckSegment.start_at, CheckSegment.end_at, CheckSegment.state)
            .where(CheckSegment.check == check, CheckSegment.location == location)
            .order_by(CheckSegment.start_at)
        ).all()
    return [(to_ms(start), to_ms(end), state) for start, end, state in rows]


def rebuilt(
    results: dict[int, bool], marks: set[int], params: TimelineParams
) -> list[tuple[int, int, str]]:
    segments = build_segments(
        [TimedResult(at, ok) for at, ok in results.items()],
        params.confirm,
        params.stale_after_ms,
        marks=marks,
    )
    return [(s.start_ms, s.end_ms, s.state.value) for s in segments]


def item(check: str, location: str, at_ms: int, ok: bool | None) -> ObservationIn:
    """A result (``ok`` given) or an end-of-observation mark (``ok`` None)."""
    return ObservationIn(
        check,
        location,
        from_ms(at_ms),
        bool(ok),
        12.5,
        None if ok in (True, None) else "status 503",
        end_of_observation=ok is None,
    )


# Instants in seconds from T0; results and marks on different grids so that both a mark
# alone and a mark at a result's instant happen.
results_strategy = st.dictionaries(st.integers(0, 300), st.booleans(), max_size=30)
marks_strategy = st.sets(st.integers(0, 300), max_size=3)
params_strategy = st.builds(
    TimelineParams, st.integers(1, 3), st.sampled_from([5, 10, 30, 60]).map(lambda s: s * SECOND)
)
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(results_strategy, marks_strategy, params_strategy, st.data())
def test_random_batches_in_random_order_equal_the_full_rebuild(
    sessions: sessionmaker[Session],
    results: dict[int, bool],
    marks: set[int],
    params: TimelineParams,
    data: st.DataObject,
) -> None:
    location = f"ex{next(examples)}"
    items = [(T0_MS + at * SECOND, ok) for at, ok in results.items()]
    items += [(T0_MS + at * SECOND + 500, None) for at in marks]
    batch_of = data.draw(st.lists(st.integers(0, 5), min_size=len(items), max_size=len(items)))
    arrival = data.draw(st.permutations(range(6)))
    stored: dict[int, bool] = {}
    stored_marks: set[int] = set()
    for batch in arrival:
        new = [entry for entry, owner in zip(items, batch_of, strict=True) if owner == batch]
        if not new:
            continue
        # Re-sending part of what is already stored changes nothing.
        resent = [(at, ok) for at, ok in items if at in stored][:2]
        with transaction(sessions) as session:
            store_observations(
                session,
                [item(CHECK, location, at, ok) for at, ok in [*new, *resent]],
                {CHECK: params},
            )
        stored.update({at: ok for at, ok in new if ok is not None})
        stored_marks |= {at for at, ok in new if ok is None}
        assert stored_segments(sessions, location) == rebuilt(stored, stored_marks, params)
    # `db rebuild-timeline` goes through the same core and finds nothing to change.
    with transaction(sessions) as session:
        update_timeline(session, CHECK, location, 0, 0, params, full=True)
    assert stored_segments(sessions, location) == rebuilt(stored, stored_marks, params)


@PROPERTY
@given(
    st.lists(st.booleans(), min_size=1, max_size=40),
    st.lists(st.booleans(), min_size=1, max_size=40),
    st.lists(st.integers(1, 12), min_size=1, max_size=40),
    st.lists(st.integers(1, 6), min_size=1, max_size=10),
    params_strategy,
)
def test_live_batches_of_many_checks_equal_the_full_rebuild(
    sessions: sessionmaker[Session],
    first: list[bool],
    second: list[bool],
    steps: list[int],
    sizes: list[int],
    params: TimelineParams,
) -> None:
    """The runner's shape: results in time order, each flush one result of several checks,
    gaps of random length (some longer than stale_after), a clean stop and a restart."""
    location = f"ex{next(examples)}"
    timeline_params = {CHECK: params, OTHER: params}
    at = T0_MS
    live: list[tuple[int, bool, bool]] = []
    for index in range(max(len(first), len(second))):
        at += steps[index % len(steps)] * SECOND
        live.append((at, first[index % len(first)], second[index % len(second)]))
    expected: dict[str, dict[int, bool]] = {CHECK: {}, OTHER: {}}
    position = 0
    for size in itertools.cycle(sizes):
        flush = live[position : position + size]
        if not flush:
            break
        position += size
        batch = [item(CHECK, location, at, ok) for at, ok, _ in flush]
        batch += [item(OTHER, location, at + 1, ok) for at, _, ok in flush]
        with transaction(sessions) as session:
            store_observations(session, batch, timeline_params)
        expected[CHECK].update({at: ok for at, ok, _ in flush})
        expected[OTHER].update({at + 1: ok for at, _, ok in flush})
        for check in (CHECK, OTHER):
            assert stored_segments(sessions, location, check) == rebuilt(
                expected[check], set(), params
            )
    stop = at + 2 * SECOND
    with transaction(sessions) as session:
        store_observations(
            session,
            [item(CHECK, location, stop, None), item(OTHER, location, stop, None)],
            timeline_params,
        )
    # A restart shortly after: the results after the stop do not extend the ended hold.
    restart = stop + 1 * SECOND
    with transaction(sessions) as session:
        store_observations(
            session,
            [item(CHECK, location, restart, first[-1]), item(OTHER, location, restart, second[-1])],
            timeline_params,
        )
    expected[CHECK][restart] = first[-1]
    expected[OTHER][restart] = second[-1]
    for check in (CHECK, OTHER):
        assert stored_segments(sessions, location, check) == rebuilt(
            expected[check], {stop}, params
        )


def test_live_results_take_the_fast_path_and_a_stop_ends_the_hold(
    sessions: sessionmaker[Session],
) -> None:
    params = {CHECK: TimelineParams(2, 30 * SECOND), OTHER: TimelineParams(2, 30 * SECOND)}
    extended = []
    for step in range(6):
        at = T0_MS + step * 10 * SECOND
        with transaction(sessions) as session:
            result = store_observations(
                session,
                [item(CHECK, "tokyo", at, True), item(OTHER, "tokyo", at, step < 3)],
                params,
            )
        extended.append(result.extended)
    # The first flush creates the timelines; then both checks extend their last segment,
    # until OTHER fails (a failure after a success may start an outage), stays failing
    # (the second failure confirms it) and then extends the confirmed outage.
    assert extended == [0, 2, 2, 1, 1, 2]
    stop = T0_MS + 55 * SECOND
    with transaction(sessions) as session:
        result = store_observations(
            session, [item(CHECK, "tokyo", stop, None), item(CHECK, "tokyo", stop, None)], params
        )
    assert (result.stored, result.marks, result.duplicates, result.extended) == (1, 1, 1, 0)
    assert stored_segments(sessions, "tokyo") == [(T0_MS, stop, "up")]
    with sessions() as session:
        row = session.get(CheckTimeline, (CHECK, "tokyo"))
        assert row is not None and row.last_mark_at == from_ms(stop)
        assert row.last_observed_at == from_ms(T0_MS + 50 * SECOND)
    # After the stop, a new result does not extend the ended hold: unknown in between.
    restart = stop + 5 * SECOND
    with transaction(sessions) as session:
        result = store_observations(session, [item(CHECK, "tokyo", restart, True)], params)
    assert result.extended == 0
    assert stored_segments(sessions, "tokyo") == [
        (T0_MS, stop, "up"),
        (restart, restart + 30 * SECOND, "up"),
    ]
    with sessions() as session:
        assert session.scalar(select(EndMark.at)) == from_ms(stop)


def test_rebuild_timelines_relabels_every_series_with_marks(
    sessions: sessionmaker[Session],
) -> None:
    params = {CHECK: TimelineParams(2, 30 * SECOND)}
    with transaction(sessions) as session:
        store_observations(
            session,
            [item(CHECK, "tokyo", T0_MS + s * 10 * SECOND, s != 2) for s in range(5)]
            + [item(CHECK, "osaka", T0_MS, None)],
            params,
        )
    stricter = {CHECK: TimelineParams(1, 30 * SECOND)}
    with transaction(sessions) as session:
        assert rebuild_timelines(session, stricter) == 2
    expected = {T0_MS + s * 10 * SECOND: s != 2 for s in range(5)}
    assert stored_segments(sessions, "tokyo") == rebuilt(expected, set(), stricter[CHECK])
    assert stored_segments(sessions, "osaka") == []


@pytest.mark.postgres
def test_concurrent_writers_of_the_same_checks_end_with_the_full_rebuild(
    postgres_url: str,
) -> None:
    """Three writers (API replicas, say) store overlapping batches of the same checks at
    once, live results and late ones mixed: no deadlock, nothing lost, the rebuild."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    factory = session_factory(engine)
    params = {CHECK: TimelineParams(2, 30 * SECOND), OTHER: TimelineParams(2, 30 * SECOND)}
    rng = random.Random(11)
    truth = {
        (check, location): {T0_MS + n * 10 * SECOND: rng.random() > 0.2 for n in range(120)}
        for check in (CHECK, OTHER)
        for location in ("tokyo", "osaka")
    }
    flat = [
        item(check, location, at, ok)
        for (check, location), results in truth.items()
        for at, ok in results.items()
    ]
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        own = random.Random(seed)
        # Mostly in time order (live), with a share of late results.
        order = sorted(flat, key=lambda o: (o.observed_at, own.random()))
        for _ in range(len(order) // 10):
            i, j = own.randrange(len(order)), own.randrange(len(order))
            order[i], order[j] = order[j], order[i]
        try:
            for start in range(0, len(order), 25):
                with transaction(factory) as session:
                    store_observations(session, order[start : start + 25], params)
        except BaseException as error:  # reported below, with the test's assertion
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for (check, location), results in truth.items():
        assert stored_segments(factory, location, check) == rebuilt(results, set(), params[check])
    engine.dispose()


def test_the_marks_migration_goes_down_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)

    def schema() -> tuple[bool, bool]:
        inspector = inspect(engine)
        columns = {column["name"] for column in inspector.get_columns("check_timelines")}
        return "end_marks" in inspector.get_table_names(), "last_mark_at" in columns

    upgrade(database_url)
    assert schema() == (True, True)
    downgrade(database_url, "0001")
    assert schema() == (False, False)
    upgrade(database_url)
    assert schema() == (True, True)
    engine.dispose()
