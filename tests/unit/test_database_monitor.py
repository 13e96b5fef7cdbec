"""The database monitor: a silent database is "unavailable" once its check is overdue,
not only when the check finally times out; each outage is logged once, start and end."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from app.store.monitor import DatabaseMonitor

BOUND = 10.0


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_a_check_that_hangs_makes_the_database_unavailable_once_overdue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kadou.database")
    now = [1000.0]
    entered = threading.Event()
    release = threading.Event()
    outcome: list[str | None] = [None]

    def check() -> str | None:
        entered.set()
        assert release.wait(BOUND)
        if outcome[0] == "raise":
            raise ConnectionError("no route to host")
        return None

    monitor = DatabaseMonitor(check, overdue_after=3, answer_within=0.05, clock=lambda: now[0])
    monitor.suspect()
    assert entered.wait(BOUND)
    assert not monitor.unavailable
    readiness = monitor.readiness()  # the check in flight does not answer in time
    assert not readiness.ready and "did not answer" in readiness.reason
    now[0] += 3
    assert monitor.unavailable and monitor.unavailable
    outcome[0] = "raise"
    release.set()  # the check finally fails: the same outage, not a second one
    wait_for(lambda: monitor._checking_since is None, "the check ends")
    assert monitor.unavailable
    outcome[0] = None
    now[0] += 7
    monitor.suspect()
    wait_for(lambda: not monitor.unavailable, "the database is back")
    monitor.stop()
    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if m.startswith("database unavailable")] == [
        "database unavailable (no answer within 3 s); answering 503 until it returns"
    ]
    assert [m for m in messages if m.startswith("database available again")] == [
        "database available again after 10.0 s"
    ]
