"""Several ``kadou serve`` replicas on one PostgreSQL database behave as one server.

Each replica here is a real app (``create_app``) with its own runtime, engine and caches,
on one real PostgreSQL database; the single-server rule of SQLite is checked on real
``kadou serve`` processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.catalog import load_catalog
from app.current import CurrentStateCache
from app.main import create_app
from app.metrics import render_sla
from app.reports.export import ExportPlan, export_due_reports_once
from app.runtime import Runtime, upgrade
from app.settings import Settings
from app.store.db import transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.locks import once_only
from app.store.models import ReportExport
from tests.support.api import Clock, add_tokens, series
from tests.support.ports import free_port

JST = ZoneInfo("Asia/Tokyo")
ROOT = Path(__file__).resolve().parents[2]
# Every wait below is on a condition, bounded by this many seconds.
BOUND = 30.0
EXPORT_JOB = "scheduled-report-export"


def wait_for(condition: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"not within {bound} s: {what}"
        time.sleep(0.05)


def replica_runtime(url: str, **settings: Any) -> Runtime:
    """One replica's runtime: its own engine and pool on the shared database."""
    return Runtime(Settings(database_url=url, **settings), load_catalog())


# --- the scheduled export runs once ----------------------------------------------------


def seed_october(runtime: Runtime) -> None:
    start = datetime(2026, 10, 31, 12, tzinfo=JST)
    batch = [
        ObservationIn("jpki/main/http", "tokyo", start + timedelta(minutes=m), m not in (30, 31))
        for m in range(6 * 60)
    ]
    with transaction(runtime.sessions) as session:
        store_observations(session, batch, {"jpki/main/http": TimelineParams(2, 180_000)})


def export_plan(directory: Path) -> ExportPlan:
    return ExportPlan(directory, ("json", "csv"), ("ja", "en"), 1, clock_time(0, 10))


EXPORT_DUE = datetime(2026, 11, 1, 0, 15, tzinfo=JST)


@pytest.mark.postgres
def test_an_export_claimed_by_another_replica_is_left_to_it(
    postgres_url: str, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    replica_a, replica_b = replica_runtime(postgres_url), replica_runtime(postgres_url)
    seed_october(replica_a)
    exports = tmp_path / "exports"
    try:
        with once_only(replica_a.sessions, EXPORT_JOB) as claimed:
            assert claimed
            # Replica A is exporting: B's round must neither write nor record anything.
            written = export_due_reports_once(
                replica_b.sessions, replica_b.catalog, "Asia/Tokyo", export_plan(exports),
                now=EXPORT_DUE,
            )  # fmt: skip
            assert written == []
            assert not exports.exists() or not list(exports.iterdir())
        # Released without recording (as if A had died): the next round of B does it.
        written = export_due_reports_once(
            replica_b.sessions, replica_b.catalog, "Asia/Tokyo", export_plan(exports),
            now=EXPORT_DUE,
        )  # fmt: skip
        assert sorted(p.name for p in written) == [
            "kadou-2026-10-en.csv", "kadou-2026-10-ja.csv", "kadou-2026-10-ja.json",
        ]  # fmt: skip
        again = export_due_reports_once(
            replica_a.sessions, replica_a.catalog, "Asia/Tokyo", export_plan(exports),
            now=EXPORT_DUE + timedelta(minutes=1),
        )  # fmt: skip
        assert again == []
    finally:
        replica_a.engine.dispose()
        replica_b.engine.dispose()


@pytest.mark.postgres
def test_the_export_run_on_two_replicas_at_once_is_written_once(
    postgres_url: str, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    replicas = [replica_runtime(postgres_url) for _ in range(2)]
    seed_october(replicas[0])
    start_together = threading.Barrier(len(replicas))
    results: dict[int, list[Path]] = {}
    errors: list[BaseException] = []

    def replica_round(index: int) -> None:
        runtime = replicas[index]
        try:
            start_together.wait(timeout=BOUND)
            results[index] = export_due_reports_once(
                runtime.sessions, runtime.catalog, "Asia/Tokyo",
                export_plan(tmp_path / "exports"), now=EXPORT_DUE,
            )  # fmt: skip
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=replica_round, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=BOUND * 2)
        assert not errors, errors
        writers = [index for index, written in results.items() if written]
        assert len(results) == 2 and len(writers) == 1, results
        with replicas[0].sessions() as session:
            assert session.execute(select(func.count()).select_from(ReportExport)).scalar() == 1
    finally:
        for runtime in replicas:
            runtime.engine.dispose()


# --- caches, /metrics and web sessions across replicas ---------------------------------

NOW = datetime(2026, 10, 20, 12, 0, 7, tzinfo=JST)


@dataclass
class Replica:
    runtime: Runtime
    app: FastAPI
    client: TestClient

    @property
    def current(self) -> CurrentStateCache:
        return self.app.state.kadou.current  # type: ignore[no-any-return]


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[tuple[Replica, Replica, dict[str, str]]]:
    """Two replicas of one server, on the same clock, with caches that would otherwise
    keep a snapshot for an hour."""
    upgrade(postgres_url)
    clock = Clock(NOW)
    opened: list[Replica] = []
    tokens: dict[str, str] = {}
    try:
        for _ in range(2):
            runtime = replica_runtime(
                postgres_url, session_secret="shared-by-every-replica", token_cache_seconds=60
            )
            if not tokens:
                tokens = add_tokens(runtime)
            app = create_app(
                runtime,
                now=clock,
                current_max_age_seconds=3600,
                metrics_refresh_seconds=60,
                change_poll_seconds=0.1,
            )
            client = TestClient(app, raise_server_exceptions=False)
            client.__enter__()
            opened.append(Replica(runtime, app, client))
        yield opened[0], opened[1], tokens
    finally:
        for replica in opened:
            replica.client.__exit__(None, None, None)
            replica.runtime.engine.dispose()


def bearer(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def sla_text(state: Any) -> list[str]:
    """The SLA exposition of a snapshot, without the time it took to compute."""
    lines = render_sla(state).decode().splitlines()
    return [line for line in lines if "snapshot_duration" not in line]


@pytest.mark.postgres
def test_a_write_on_one_replica_reaches_the_other_replicas_state_and_metrics(
    replicas: tuple[Replica, Replica, dict[str, str]],
) -> None:
    replica_a, replica_b, tokens = replicas
    start = NOW - timedelta(hours=12)
    items = series(
        "jpki/main/http", start, NOW, timedelta(minutes=1),
        down=lambda at: NOW - timedelta(minutes=50) <= at < NOW - timedelta(minutes=30),
    )  # fmt: skip
    response = replica_a.client.post(
        "/api/v1/results", json={"observations": items}, headers=bearer(tokens, "prober")
    )
    assert response.status_code == 200, response.text
    before = replica_b.current.get()
    assert before.active_exclusions == []

    disaster = {
        "scope": "jpki",
        "kind": "disaster",
        "start": (NOW - timedelta(hours=1)).isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
        "reason": "power failure at the data centre",
    }
    response = replica_a.client.post(
        "/api/v1/exclusions", json=disaster, headers=bearer(tokens, "admin")
    )
    assert response.status_code == 201, response.text

    # Replica B's snapshot would be good for an hour; the write reaches it within one poll.
    wait_for(
        lambda: (
            [w.reason for w in replica_b.current.get().active_exclusions] == [disaster["reason"]]
        ),
        "replica B's current state shows the window created through replica A",
    )

    def published_with_window(replica: Replica) -> bool:
        state = replica.current.published()
        return state is not None and len(state.active_exclusions) == 1

    wait_for(
        lambda: published_with_window(replica_a) and published_with_window(replica_b),
        "both replicas publish a snapshot that includes the window",
    )
    published_a, published_b = replica_a.current.published(), replica_b.current.published()
    assert published_a is not None and published_b is not None
    # The same grid instant (the minute's start), the same data: the same figures.
    assert published_a.now == published_b.now == NOW.replace(second=0)
    assert sla_text(published_a) == sla_text(published_b)
    jpki = published_b.figures("jpki", None)
    assert jpki["downtime_seconds"] == 0  # the window excludes the 20 minutes down

    metrics_a = replica_a.client.get("/metrics", headers=bearer(tokens, "viewer")).text
    metrics_b = replica_b.client.get("/metrics", headers=bearer(tokens, "viewer")).text
    assert [line for line in metrics_a.splitlines() if line.startswith("kadou_sla_")
            and "snapshot_duration" not in line] == [
        line for line in metrics_b.splitlines() if line.startswith("kadou_sla_")
        and "snapshot_duration" not in line
    ]  # fmt: skip


@pytest.mark.postgres
def test_a_token_revoked_through_one_replica_stops_working_on_the_other(
    replicas: tuple[Replica, Replica, dict[str, str]],
) -> None:
    replica_a, replica_b, tokens = replicas
    viewer = bearer(tokens, "viewer")
    assert replica_b.client.get("/api/v1/systems", headers=viewer).status_code == 200
    with transaction(replica_a.runtime.sessions) as session:
        from app.store.tokens import revoke_token

        revoke_token(session, "viewer-token", actor="admin")
    wait_for(
        lambda: replica_b.client.get("/api/v1/systems", headers=viewer).status_code == 401,
        "replica B refuses the revoked token",
        bound=10.0,
    )


@pytest.mark.postgres
def test_a_browser_session_works_on_every_replica_with_the_shared_secret(
    replicas: tuple[Replica, Replica, dict[str, str]],
) -> None:
    import re

    replica_a, replica_b, tokens = replicas
    form = replica_a.client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    signed_in = replica_a.client.post(
        "/login",
        data={"token": tokens["viewer"], "csrf_token": csrf.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    cookie = replica_a.client.cookies.get("kadou_session")
    assert cookie
    replica_b.client.cookies.set("kadou_session", cookie)
    page = replica_b.client.get("/", follow_redirects=False)
    assert page.status_code == 200, "replica B does not accept replica A's session"


# --- SQLite: one server per database file ----------------------------------------------


def start_server(database: Path, workdir: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KADOU_")},
        "KADOU_DATABASE_URL": f"sqlite:///{database}",
        "KADOU_REPORT_EXPORT": "false",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "serve",
            "--no-probes",
            "--port",
            str(port),
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_a_second_server_on_one_sqlite_file_is_refused_until_the_first_is_gone(
    tmp_path: Path,
) -> None:
    database = tmp_path / "kadou.db"
    upgrade(f"sqlite:///{database}")
    first_port = free_port()
    first = start_server(database, tmp_path, first_port)
    try:
        wait_for(lambda: first.poll() is None and answers(first_port), "the first server answers")
        second = start_server(database, tmp_path, free_port())
        _, stderr = second.communicate(timeout=BOUND)
        assert second.returncode == 2, stderr
        assert "already serves the SQLite database" in stderr and str(database) in stderr
        assert f"(process {first.pid})" in stderr
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
        # A server killed outright leaves no lock behind: the kernel releases it.
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=BOUND)
        third_port = free_port()
        third = start_server(database, tmp_path, third_port)
        try:
            wait_for(
                lambda: third.poll() is None and answers(third_port),
                "a new server starts after the first was killed",
            )
        finally:
            third.terminate()
            third.communicate(timeout=BOUND)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate(timeout=BOUND)
