"""Changing a planned window: the audit trail says when the change excluded past time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.store.audit import entries
from app.store.db import make_engine, session_factory, transaction
from app.store.exclusions import ExclusionRequest, add_exclusion, update_exclusion
from app.store.tokens import Actor, Role

ADMIN = Actor("admin-token", Role.ADMIN)
REGISTERED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Registered the day before, as planned windows are: [10:00, 12:00) on the 21st.
STARTS = REGISTERED + timedelta(days=1, hours=1)
ENDS = STARTS + timedelta(hours=2)


@pytest.fixture
def sessions(migrated_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_url)
    yield session_factory(engine)
    engine.dispose()


def planned_window(sessions: sessionmaker[Session], kind: str = "planned") -> int:
    request = ExclusionRequest("info-network", kind, STARTS, ENDS, "patching")
    with transaction(sessions) as session:
        row = add_exclusion(session, load_catalog(), request, ADMIN, now=REGISTERED)
        assert row.retroactive is False
        return row.id


def change(
    sessions: sessionmaker[Session], window: int, now: datetime, **times: datetime
) -> tuple[bool, bool, bool]:
    """(retroactive after the change, as the audit's before and after show it)."""
    with transaction(sessions) as session:
        row = update_exclusion(
            session, load_catalog(), window, actor=ADMIN, reason="moved", now=now, **times
        )
        retroactive = row.retroactive
    with sessions() as session:
        update = entries(session, entity="exclusion")[0]  # the latest first
        assert update.action == "update"
        assert update.before is not None and update.after is not None
        return retroactive, update.before["retroactive"], update.after["retroactive"]


@pytest.mark.parametrize(
    ("now", "times"),
    [
        # Moved to start an hour before the change was made.
        (REGISTERED, {"starts_at": REGISTERED - timedelta(hours=1)}),
        # Still running at the change, moved to have started earlier.
        (STARTS + timedelta(minutes=30), {"starts_at": STARTS - timedelta(hours=1)}),
        # Over at the change, extended to cover the hour after its registered end.
        (ENDS + timedelta(hours=1), {"ends_at": ENDS + timedelta(hours=1)}),
    ],
    ids=["moved-into-the-past", "ongoing-moved-earlier", "ended-extended"],
)
def test_a_planned_window_changed_to_exclude_past_time_becomes_retroactive(
    sessions: sessionmaker[Session], now: datetime, times: dict[str, datetime]
) -> None:
    window = planned_window(sessions)
    assert change(sessions, window, now, **times) == (True, False, True)


@pytest.mark.parametrize(
    ("now", "times"),
    [
        # Moved, but still in the future.
        (
            REGISTERED,
            {"starts_at": STARTS + timedelta(hours=1), "ends_at": ENDS + timedelta(hours=1)},
        ),
        # Running at the change and extended into the future: the past part was registered.
        (STARTS + timedelta(minutes=30), {"ends_at": ENDS + timedelta(hours=2)}),
        # Over at the change and shortened: less excluded time, none of it new.
        (ENDS + timedelta(hours=1), {"ends_at": ENDS - timedelta(hours=1)}),
    ],
    ids=["future", "ongoing-extended", "ended-shortened"],
)
def test_a_change_within_what_was_registered_stays_planned_in_advance(
    sessions: sessionmaker[Session], now: datetime, times: dict[str, datetime]
) -> None:
    window = planned_window(sessions)
    assert change(sessions, window, now, **times) == (False, False, False)


def test_a_disaster_window_turned_planned_after_the_fact_is_retroactive(
    sessions: sessionmaker[Session],
) -> None:
    window = planned_window(sessions, kind="disaster")
    with transaction(sessions) as session:
        row = update_exclusion(
            session, load_catalog(), window, actor=ADMIN, reason="it was maintenance",
            kind="planned", now=ENDS + timedelta(hours=1),
        )  # fmt: skip
        assert row.retroactive is True
