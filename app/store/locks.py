"""Once-only jobs across server replicas: PostgreSQL advisory locks held by a transaction.

Several ``kadou serve`` replicas on one PostgreSQL database each run the scheduled jobs
(the monthly export, month closing); the job itself must run in one of them at a time.
A transaction-level advisory lock (``pg_try_advisory_xact_lock``) does that with no table
and no session state: it is released when its transaction ends (commit, rollback, or the
connection dying with its process, even on kill -9), so it works through PgBouncer in
transaction mode, where a session-level lock could outlive its job on a pooled
connection or be taken by the wrong client. SQLite is served by one process only (see
``app.store.single_server``), so there the claim always succeeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker


def lock_key(job: str) -> int:
    """A stable signed 64-bit key for ``job`` (the same in every process and version)."""
    digest = hashlib.sha256(f"kadou:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def once_only(sessions: sessionmaker[Session], job: str) -> Iterator[bool]:
    """Claim ``job`` for the duration of the ``with`` block; yields False if another process
    holds the claim (then do nothing: that process is doing the job).

    The claim is a transaction kept open on its own connection while the block runs; the
    job does its work on other connections, so its own commits do not end the claim.
    """
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            yield True
            return
        with session.begin():
            claimed = session.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(job)}
            ).scalar_one()
            yield bool(claimed)
