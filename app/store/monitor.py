"""Whether the database answers, known without making requests wait on it.

A background thread checks the database (a connection, the schema revision) every few
seconds, and at once when a request has just failed on it. While it is unavailable the API
answers 503 with ``Retry-After`` straight away instead of letting every request wait for
its own timeout, and the log gets one line when the outage starts and one when it ends,
with its duration, rather than a traceback per request. ``/readyz`` asks for a fresh check
and answers 503 if none completes within ``answer_within`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("kadou.database")

RETRY_AFTER_SECONDS = 5


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database is out of reach (or too slow), not a bad request."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    return isinstance(error, DisconnectionError | PoolTimeout | TimeoutError | ConnectionError)


def describe(error: BaseException) -> str:
    """One line: the driver's first line of text, never a traceback or a password."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(original).__name__}: {first}"[:300] if first else type(original).__name__


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


class DatabaseMonitor:
    """Checks the database in one background thread; ``check`` returns None when ready,
    the reason when reachable but not ready (an old schema), and raises when unreachable."""

    def __init__(
        self,
        check: Callable[[], str | None],
        *,
        interval_up: float = 10.0,
        interval_down: float = 0.5,
        answer_within: float = 1.5,
        overdue_after: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._interval_up = interval_up
        self._interval_down = interval_down
        self.answer_within = answer_within
        self.overdue_after = overdue_after
        self._clock = clock
        # When the check in flight began (monotonic), or None between checks.
        self._checking_since: float | None = None
        self._cond = threading.Condition()
        self._started = 0  # checks begun
        self._finished = 0  # the last check finished (checks run one at a time)
        self._wanted = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._readiness = Readiness(False, "the database has not been checked yet")
        # Unreachable since (monotonic), or None while it answers.
        self._down_since: float | None = None

    @property
    def unavailable(self) -> bool:
        """True while the last check could not reach the database, or the one in flight
        has waited more than ``overdue_after`` seconds for it.

        A database that has gone silent holds a check until a timeout (the statement
        timeout, 30 s by default); requests should not wait that long to hear it is away.
        """
        if self._down_since is not None:
            return True
        since = self._checking_since
        if since is None or self._clock() - since < self.overdue_after:
            return False
        with self._cond:
            if self._down_since is None and self._checking_since == since:
                self._down_since = since
                log.warning(
                    "database unavailable (no answer within %.0f s); answering 503 until it "
                    "returns",
                    self.overdue_after,
                )
        return True

    def start(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="kadou-db-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        # Not joined: a check stuck on a silent database ends by its own timeout.

    def suspect(self) -> None:
        """A request just failed on the database: check now rather than at the next tick."""
        with self._cond:
            self._wanted = True
            self._cond.notify_all()
        self.start()

    def readiness(self) -> Readiness:
        """A check begun after this call, or not ready if none finishes in time."""
        self.start()
        # Real time, whatever the clock: this waits on a condition variable.
        deadline = time.monotonic() + self.answer_within
        with self._cond:
            wanted = self._started + 1
            self._wanted = True
            self._cond.notify_all()
            while self._finished < wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Readiness(
                        False,
                        f"the database did not answer within {self.answer_within:g} s",
                    )
                self._cond.wait(remaining)
            return self._readiness

    def _run(self) -> None:
        while True:
            with self._cond:
                interval = self._interval_up if self._down_since is None else self._interval_down
                if not self._wanted and not self._stopping:
                    self._cond.wait(interval)
                if self._stopping:
                    return
                self._wanted = False
                self._started += 1
                number = self._started
                self._checking_since = self._clock()
            readiness = self._check_once()
            with self._cond:
                self._checking_since = None
                self._readiness = readiness
                self._finished = number
                self._cond.notify_all()

    def _check_once(self) -> Readiness:
        try:
            reason = self._check()
        except Exception as error:  # any failure to reach the database: not ready
            with self._cond:
                if self._down_since is None:
                    self._down_since = self._checking_since or self._clock()
                    log.warning(
                        "database unavailable (%s); answering 503 until it returns",
                        describe(error),
                    )
            return Readiness(
                False,
                f"the database is unreachable ({describe(error)}); check KADOU_DATABASE_URL",
            )
        if self._down_since is not None:
            log.warning("database available again after %.1f s", self._clock() - self._down_since)
            self._down_since = None
        if reason is not None:
            return Readiness(False, reason)
        return Readiness(True, "ready")
