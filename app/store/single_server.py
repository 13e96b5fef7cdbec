"""One server per SQLite file: a lock file beside the database, held while serving.

SQLite is Kadou's single-process default. Two servers on one file would each run the
scheduled jobs and keep their own caches (replicas coordinate through PostgreSQL only),
so a second ``kadou serve`` on the same file is refused. The lock is an ``flock`` on
``<database>.serve.lock``: the kernel releases it when the holding process ends in any
way, kill -9 included, so a crash never leaves a lock that has to be removed by hand.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from app.errors import KadouError


class DatabaseInUse(KadouError):
    """Another ``kadou serve`` already serves this SQLite database."""


def sqlite_file(database_url: str) -> Path | None:
    """The SQLite database file of ``database_url``; None for PostgreSQL or in-memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve()


class ServerLock:
    """Held from :meth:`acquire` until :meth:`release` or the end of the process."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".serve.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DatabaseInUse(
                f"another `kadou serve`{holder} already serves the SQLite database "
                f"{self.database}; SQLite is single-process: stop that server, or use "
                "PostgreSQL (KADOU_DATABASE_URL) to run several replicas"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # The holder's process id, for the message a second server prints (informative
        # only: the lock, not the file's content, decides).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def lock_single_server(database_url: str) -> ServerLock | None:
    """Take the server lock of a SQLite database; None (no lock needed) for PostgreSQL."""
    database = sqlite_file(database_url)
    if database is None:
        return None
    lock = ServerLock(database)
    lock.acquire()
    return lock
