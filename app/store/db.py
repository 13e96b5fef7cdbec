"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

Every engine is bounded in time (``DatabaseTimeouts``): opening a connection, waiting for a
free one in the pool, and each statement. A database that accepts connections but never
answers (a network black hole, a hung server) must turn into an error within those bounds,
never into a request, a probe writer or a readiness check that waits forever.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("kadou.store")


@dataclass(frozen=True, slots=True)
class DatabaseTimeouts:
    """Seconds; ``statement`` None means no bound (migrations may run for long)."""

    connect: float = 5.0
    pool: float = 5.0
    statement: float | None = 30.0


# What the server is given beyond the statement timeout before the client gives up on it:
# a live server cancels the statement itself at ``statement``; only one that does not
# answer at all reaches this.
CLIENT_GRACE_SECONDS = 2.0


def normalize_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str,
    timeouts: DatabaseTimeouts | None = None,
    *,
    pooled: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine for ``url``, every wait bounded by ``timeouts``.

    ``pooled`` says that a PostgreSQL URL points at a connection pooler in transaction
    mode (PgBouncer): each transaction may run on another server connection, so nothing
    may live in a server session. Then no startup options are sent (PgBouncer refuses
    ``options``; the server-side statement timeout belongs on the database role, e.g.
    ``ALTER ROLE kadou SET statement_timeout = '30s'``) and psycopg prepares no
    statements (a prepared statement lives in one server session). The client-side bound
    on each call stays.
    """
    timeouts = timeouts or DatabaseTimeouts(statement=None)
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # SQLite's "timeout" is how long a statement waits for another writer's lock.
        busy = timeouts.statement if timeouts.statement is not None else 30.0
        engine = create_engine(
            url, connect_args={"timeout": busy}, pool_timeout=timeouts.pool, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy))
        if timeouts.statement is not None:
            _bound_sqlite_statements(engine, timeouts.statement)
        return engine
    connect_args: dict[str, Any] = {
        # libpq rounds down and treats under 2 s as 2 s.
        "connect_timeout": max(2, round(timeouts.connect)),
    }
    if pooled:
        connect_args["prepare_threshold"] = None
    elif timeouts.statement is not None:
        connect_args["options"] = f"-c statement_timeout={round(timeouts.statement * 1000)}"
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_timeout=timeouts.pool,
        connect_args=connect_args,
        **kwargs,
    )
    if timeouts.statement is not None:
        _bound_postgres_calls(engine, timeouts.statement + CLIENT_GRACE_SECONDS)
    return engine


def _sqlite_pragmas(busy_seconds: float) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the API read while the probe runner writes; NORMAL sync is durable in
        # WAL mode across application crashes, which is what a monitor needs.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_seconds * 1000)}")
        cursor.close()

    return apply


def _bound_sqlite_statements(engine: Engine, seconds: float) -> None:
    """Interrupt a SQLite statement that runs longer than ``seconds`` (an OperationalError).

    SQLite calls the progress handler every few thousand virtual machine steps; returning
    true aborts the statement. Lock waits are bounded separately by the busy timeout.
    """

    @event.listens_for(engine, "connect")
    def install(dbapi_connection: Any, record: Any) -> None:
        deadline: list[float] = [0.0]
        record.info["kadou_deadline"] = deadline

        def over_time() -> int:
            return 1 if deadline[0] and time.monotonic() > deadline[0] else 0

        dbapi_connection.set_progress_handler(over_time, 10_000)

    @event.listens_for(engine, "before_cursor_execute")
    def start(conn: Any, *_args: Any) -> None:
        deadline = conn.connection.info.get("kadou_deadline")
        if deadline is not None:
            deadline[0] = time.monotonic() + seconds

    @event.listens_for(engine, "after_cursor_execute")
    def stop(conn: Any, *_args: Any) -> None:
        deadline = conn.connection.info.get("kadou_deadline")
        if deadline is not None:
            deadline[0] = 0.0


class _Watchdog:
    """Shuts the socket of a PostgreSQL call that outlives its deadline.

    A server that has gone silent (black-holed by the network, hung) never answers, and
    psycopg waits for an answer without a bound; the server's own statement_timeout cannot
    help. Shutting the socket down wakes the waiting call with a connection error, which
    SQLAlchemy treats as a disconnect: the connection is dropped from the pool.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int]] = []
        self._active: dict[int, int] = {}  # ticket -> file descriptor
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, dbapi_connection: Any, seconds: float) -> Iterator[None]:
        try:
            fd = int(dbapi_connection.fileno())
        except Exception:  # a closed connection fails on its own; nothing to watch
            yield
            return
        with self._lock:
            ticket = next(self._tickets)
            self._active[ticket] = fd
            heapq.heappush(self._heap, (time.monotonic() + seconds, ticket))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kadou-db-watchdog", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        try:
            yield
        finally:
            # Under the lock: once this returns the descriptor is never touched again, so
            # a later connection reusing the number cannot be shut by mistake.
            with self._lock:
                self._active.pop(ticket, None)

    def _run(self) -> None:
        with self._lock:
            while True:
                while self._heap and self._heap[0][1] not in self._active:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, ticket = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                fd = self._active.pop(ticket)
                log.warning("database call unanswered past its deadline; closing its connection")
                try:
                    duplicate = socket.socket(fileno=os.dup(fd))
                    try:
                        duplicate.shutdown(socket.SHUT_RDWR)
                    finally:
                        duplicate.close()
                except OSError:  # already closed by the server or the driver
                    pass


_WATCHDOG = _Watchdog()


def _bound_postgres_calls(engine: Engine, seconds: float) -> None:
    """Bound every call that waits for the server: statements, commits, rollbacks, pings."""
    dialect: Any = engine.dialect

    def guarded_cursor_call(name: str) -> None:
        original = getattr(dialect, name)

        def call(cursor: Any, *args: Any, **kwargs: Any) -> Any:
            with _WATCHDOG.guard(cursor.connection, seconds):
                return original(cursor, *args, **kwargs)

        setattr(dialect, name, call)

    def guarded_connection_call(name: str) -> None:
        original = getattr(dialect, name)

        def call(dbapi_connection: Any, *args: Any, **kwargs: Any) -> Any:
            with _WATCHDOG.guard(dbapi_connection, seconds):
                return original(dbapi_connection, *args, **kwargs)

        setattr(dialect, name, call)

    for name in ("do_execute", "do_executemany", "do_execute_no_params"):
        guarded_cursor_call(name)
    for name in ("do_ping", "do_commit", "do_rollback"):
        guarded_connection_call(name)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    with factory() as session, session.begin():
        yield session
