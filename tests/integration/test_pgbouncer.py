"""Kadou through PgBouncer in transaction mode: no state may live in a server session.

Each transaction may run on another server connection, so session settings, prepared
statements, session-level advisory locks and ``LISTEN`` would silently break. A real
PgBouncer (the Debian package) sits in front of the test's PostgreSQL database with a
server pool smaller than the clients, so transactions do move between server connections.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.catalog import load_catalog
from app.current import CurrentStateCache
from app.runtime import Runtime, upgrade
from app.settings import Settings
from app.store.changes import change_generation
from app.store.db import transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.locks import once_only
from app.store.tokens import Actor, Role

BOUND = 30.0
IN_CI = os.environ.get("CI", "").lower() == "true"
PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def pgbouncer_url(postgres_url: str) -> Iterator[str]:
    """``postgres_url`` through a PgBouncer in transaction mode with two server connections."""
    if PGBOUNCER is None:
        reason = "PgBouncer is not installed (apt-get install pgbouncer)"
        if IN_CI:
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)
    target = make_url(postgres_url)
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="kadou-pgbouncer-"))
    (directory / "users.txt").write_text(f'"{target.username}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={target.host} port={target.port or 5432}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "users.txt"}
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
"""
    )
    command = [PGBOUNCER, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer will not run as root: it switches to postgres
        shutil.chown(directory, "postgres")
        for item in directory.iterdir():
            shutil.chown(item, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + BOUND
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "PgBouncer did not listen"
                time.sleep(0.05)
        yield target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.communicate(timeout=BOUND)
        shutil.rmtree(directory, ignore_errors=True)


def pooled_replica(url: str) -> Runtime:
    return Runtime(Settings(database_url=url, db_pooled=True), load_catalog())


@pytest.mark.postgres
def test_replicas_work_through_pgbouncer_in_transaction_mode(
    postgres_url: str, pgbouncer_url: str
) -> None:
    upgrade(postgres_url)  # migrations go straight to the database, not through the pooler
    replica_a, replica_b = pooled_replica(pgbouncer_url), pooled_replica(pgbouncer_url)
    params = {f"jpki/main/http{i}": TimelineParams(2, 30_000) for i in range(6)}
    start = datetime(2026, 10, 1, tzinfo=UTC)
    errors: list[BaseException] = []

    def writer(index: int, runtime: Runtime) -> None:
        # The same statements again and again from each client connection: what a driver
        # would prepare after a few runs, and then miss on another server connection.
        try:
            for step in range(40):
                at = start + timedelta(seconds=10 * step)
                with transaction(runtime.sessions) as session:
                    store_observations(
                        session,
                        [ObservationIn(f"jpki/main/http{index}", "tokyo", at, True)],
                        params,
                    )
                with runtime.sessions() as session:
                    change_generation(session)
        except BaseException as error:
            errors.append(error)

    try:
        threads = [
            threading.Thread(target=writer, args=(i, (replica_a, replica_b)[i % 2]))
            for i in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=BOUND * 4)
        assert not errors, errors[0]

        # A once-only claim is a transaction's lock: it holds through the pooler.
        with (
            once_only(replica_a.sessions, "scheduled-report-export") as claimed_by_a,
            once_only(replica_b.sessions, "scheduled-report-export") as claimed_by_b,
        ):
            assert claimed_by_a and not claimed_by_b
        with once_only(replica_b.sessions, "scheduled-report-export") as claimed_by_b:
            assert claimed_by_b

        # A write through replica A moves the change generation replica B polls.
        cache_b = CurrentStateCache(replica_b, lambda: datetime.now(UTC))
        assert cache_b.sync_shared_changes()  # the first reading
        assert not cache_b.sync_shared_changes()
        with transaction(replica_a.sessions) as session:
            request = ExclusionRequest(
                "jpki", "disaster", start, start + timedelta(hours=1), "flood", retroactive=True
            )
            add_exclusion(session, replica_a.catalog, request, Actor("admin", Role.ADMIN))
        assert cache_b.sync_shared_changes()
    finally:
        replica_a.engine.dispose()
        replica_b.engine.dispose()


@pytest.mark.postgres
def test_pgbouncer_refuses_the_startup_options_a_direct_connection_uses(
    pgbouncer_url: str,
) -> None:
    """Why ``KADOU_DB_POOLED`` exists: the statement timeout Kadou sends at connection
    start on a direct connection is refused by PgBouncer."""
    from app.store.db import DatabaseTimeouts, make_engine

    engine = make_engine(pgbouncer_url, DatabaseTimeouts(statement=30))
    with pytest.raises(Exception, match="unsupported startup parameter"), engine.connect():
        pass
    engine.dispose()


@pytest.mark.postgres
def test_partitions_are_made_and_dropped_through_pgbouncer(
    postgres_url: str, pgbouncer_url: str
) -> None:
    """Partition upkeep is transaction-scoped (an advisory xact lock, SET LOCAL), so two
    pooled replicas making the same partitions at once take turns, and a drop holds."""
    from app.store import partitions

    upgrade(postgres_url)
    replicas = [pooled_replica(pgbouncer_url) for _ in range(2)]
    when = datetime(2040, 5, 20, tzinfo=UTC)
    made: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def make(runtime: Runtime) -> None:
        try:
            start.wait()
            made.append(partitions.maintain(runtime.sessions, "Asia/Tokyo", when))
        except BaseException as error:
            errors.append(error)

    try:
        threads = [threading.Thread(target=make, args=(replica,)) for replica in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=BOUND * 4)
        assert not errors, errors[0]
        assert sorted(len(names) for names in made) == [0, 4]
        with replicas[0].sessions() as session, session.begin():
            layout = partitions.partitions(session.connection())
            may = next(item for item in layout if item.name == "observations_2040_05")
            assert partitions.drop_if_all_pruned(session.connection(), may, {})
        with replicas[1].sessions() as session:
            names = {item.name for item in partitions.partitions(session.connection())}
        assert "observations_2040_05" not in names and "observations_2040_06" in names
    finally:
        for replica in replicas:
            replica.engine.dispose()
