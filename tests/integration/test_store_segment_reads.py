"""The store's fast segment reads return what the ORM reads of the same rows give.

Segments are read as epoch milliseconds computed by the database, and timeline heads as
plain rows; both must agree with ``to_ms`` of the stored instant to the millisecond,
including finer-than-millisecond parts, instants before 1970 and the calendar's ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.sla.timeline import CheckState, Segment
from app.store.db import make_engine, session_factory, transaction
from app.store.models import CheckSegment, CheckTimeline
from app.store.segments import last_observations, segments_at, segments_between
from app.store.types import epoch_ms, to_ms

# Start instants of 900 ms segments, each its own check so none overlap.
INSTANTS = [
    datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 1, 0, 0, 0, 1000, tzinfo=UTC),
    datetime(2026, 12, 1, 0, 0, 59, 999999, tzinfo=UTC),  # rounding would carry a second
    datetime(2026, 12, 1, 0, 0, 59, 999500, tzinfo=UTC),
    datetime(2026, 11, 30, 23, 59, 59, 123456, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500, tzinfo=UTC),
    datetime(1900, 3, 1, 12, 30, 15, 250000, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 58, 999999, tzinfo=UTC),
]


def test_segment_reads_equal_to_ms_of_the_stored_instants(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    sessions = session_factory(engine)
    try:
        with transaction(sessions) as session:
            for index, start in enumerate(INSTANTS):
                session.add(
                    CheckSegment(
                        check=f"c{index}",
                        location="tokyo",
                        start_at=start,
                        end_at=start + timedelta(milliseconds=900),
                        state=("up", "down", "blip")[index % 3],
                    )
                )
        keys = [f"c{index}" for index in range(len(INSTANTS))]
        with sessions() as session:
            # What the ORM reads of the same rows, through the column type.
            expected = {
                (row.check, row.location): [
                    Segment(to_ms(row.start_at), to_ms(row.end_at), CheckState(row.state))
                ]
                for row in session.execute(select(CheckSegment)).scalars()
            }
            assert expected[("c2", "tokyo")][0].start_ms % 1000 == 999  # the data is as meant
            low = min(s.start_ms for (s,) in expected.values())
            high = max(s.end_ms for (s,) in expected.values())
            assert segments_between(session, keys, low, high) == expected
            for (check, location), (segment,) in expected.items():
                # start_ms + 1: a start finer than the millisecond is after start_ms itself.
                for instant_ms in (segment.start_ms + 1, segment.end_ms - 1):
                    covering = segments_at(session, instant_ms)
                    assert covering[(check, location)] == [segment]
            raw = session.execute(
                select(epoch_ms(CheckSegment.start_at), CheckSegment.start_at)
            ).all()
            assert sorted(ms for ms, _ in raw) == sorted(to_ms(at) for at in INSTANTS)
            assert all(isinstance(ms, int) for ms, _ in raw)
    finally:
        engine.dispose()


def test_last_observations_reads_the_stored_heads(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    sessions = session_factory(engine)
    seen = datetime(2026, 12, 1, 3, 4, 5, 678000, tzinfo=UTC)
    try:
        with transaction(sessions) as session:
            session.add_all(
                [
                    CheckTimeline(
                        check="b", location="tokyo", confirm=2, stale_after_ms=180_000,
                        last_observed_at=seen, last_ok=False, last_detail="HTTP 503",
                        last_latency_ms=12.5, last_mark_at=None,
                    ),
                    CheckTimeline(
                        check="a", location="tokyo", confirm=3, stale_after_ms=60_000,
                        last_observed_at=None, last_ok=None, last_detail=None,
                        last_latency_ms=None, last_mark_at=seen,
                    ),
                    CheckTimeline(
                        check="a", location="osaka", confirm=1, stale_after_ms=60_000,
                        last_observed_at=seen, last_ok=True, last_detail=None,
                        last_latency_ms=0.25, last_mark_at=None,
                    ),
                ]
            )  # fmt: skip
        with sessions() as session:
            fields = (
                "check", "location", "confirm", "stale_after_ms", "last_observed_at", "last_ok",
                "last_detail", "last_latency_ms", "last_mark_at",
            )  # fmt: skip
            orm = [
                tuple(getattr(row, field) for field in fields)
                for row in session.execute(
                    select(CheckTimeline).order_by(CheckTimeline.location, CheckTimeline.check)
                ).scalars()
            ]
            heads = last_observations(session)
            assert [tuple(getattr(head, field) for field in fields) for head in heads] == orm
            assert [(h.location, h.check) for h in heads] == [
                ("osaka", "a"),
                ("tokyo", "a"),
                ("tokyo", "b"),
            ]
            assert heads[0].last_ok is True and heads[2].last_ok is False
            assert heads[2].last_observed_at == seen and heads[2].last_observed_at.tzinfo
            assert [h.check for h in last_observations(session, ["b"])] == ["b"]
    finally:
        engine.dispose()
