"""A database that hangs, refuses or disappears: Kadou stays alive, says it is not ready,
answers 503 with Retry-After, logs the outage once, and recovers by itself.

PostgreSQL sits behind a fault proxy (tests/support/faultproxy.py). Waits are on
conditions with generous deadlines: they bound the test, they are not performance goals
(bench/hostile_bodies.py and the figures in the README are).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.catalog import load_catalog
from app.runtime import Runtime
from app.settings import Settings
from app.store.db import DatabaseTimeouts, make_engine
from tests.reliability.conftest import LiveServer, free_port, run_server
from tests.support.api import add_tokens, migrate
from tests.support.faultproxy import FaultProxy, Mode

ROOT = Path(__file__).resolve().parents[2]
BOUND = 30.0  # seconds: the most any wait below may take before the test fails


def wait_for(condition: Callable[[], Any], what: str, within: float = BOUND) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        time.sleep(0.05)


def through(proxy: FaultProxy, url: str) -> str:
    return (
        make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[FaultProxy]:
    parsed = make_url(postgres_url)
    with FaultProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def server(postgres_url: str, proxy: FaultProxy) -> Iterator[LiveServer]:
    migrate(postgres_url)
    settings = Settings(
        database_url=through(proxy, postgres_url),
        db_connect_timeout_seconds=2,
        db_pool_timeout_seconds=2,
        db_statement_timeout_seconds=2,
    )
    runtime = Runtime(settings=settings, catalog=load_catalog(None))
    tokens = add_tokens(runtime)
    for live in run_server(runtime):
        live.tokens = tokens
        yield live


def get(server: LiveServer, path: str, role: str | None = "viewer") -> httpx.Response:
    headers = server.auth(role) if role else {}
    return httpx.get(server.base + path, headers=headers, timeout=BOUND)


def outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    messages = [r.getMessage() for r in caplog.records if r.name == "kadou.database"]
    return (
        [m for m in messages if m.startswith("database unavailable")],
        [m for m in messages if m.startswith("database available again")],
    )


@pytest.mark.postgres
@pytest.mark.parametrize("fault", [Mode.BLACK_HOLE, Mode.REFUSE])
def test_a_database_fault_is_503_and_ends_by_itself(
    server: LiveServer, proxy: FaultProxy, fault: Mode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert get(server, "/api/v1/systems").status_code == 200
    assert get(server, "/readyz").status_code == 200

    proxy.mode = fault
    assert get(server, "/healthz").status_code == 200
    ready = get(server, "/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    # The first readers may each wait out their own timeout; once the outage is known,
    # every API request is a 503 with Retry-After.
    answers = [get(server, "/api/v1/systems") for _ in range(3)]
    answers += [get(server, "/api/v1/systems", role="admin") for _ in range(20)]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"].isdigit()
        assert answer.json()["title"] == "Service unavailable"
    assert get(server, "/healthz").status_code == 200

    proxy.mode = Mode.PASS
    wait_for(lambda: get(server, "/readyz").status_code == 200, "ready again")
    assert get(server, "/api/v1/systems").status_code == 200
    down, up = outage_lines(caplog)
    assert len(down) == 1, down
    assert len(up) == 1 and " s" in up[0], up
    tracebacks = [r for r in caplog.records if r.exc_info and r.name.startswith("kadou")]
    assert tracebacks == []


@pytest.mark.postgres
def test_healthz_answers_while_every_reader_waits_on_a_black_hole(
    server: LiveServer, proxy: FaultProxy
) -> None:
    proxy.mode = Mode.BLACK_HOLE
    with httpx.Client(base_url=server.base, timeout=BOUND) as client:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as readers:
            waiting = [
                readers.submit(client.get, "/api/v1/systems", headers=server.auth("viewer"))
                for _ in range(50)
            ]
            for _ in range(10):
                assert client.get("/healthz", timeout=5).status_code == 200
            statuses = {future.result().status_code for future in waiting}
    assert statuses == {503}
    proxy.mode = Mode.PASS
    wait_for(lambda: get(server, "/readyz").status_code == 200, "ready again")


@pytest.mark.postgres
def test_a_statement_on_a_silent_server_fails_instead_of_waiting(
    postgres_url: str, proxy: FaultProxy
) -> None:
    engine = make_engine(
        through(proxy, postgres_url), DatabaseTimeouts(connect=2, pool=2, statement=1)
    )
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
            proxy.mode = Mode.BLACK_HOLE
            with pytest.raises(OperationalError):
                connection.execute(text("SELECT 1"))
        with pytest.raises(OperationalError):  # a new connection times out too
            engine.connect().close()
        proxy.mode = Mode.PASS
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_connection_cut_mid_statement_is_an_error_not_a_hang(
    postgres_url: str, proxy: FaultProxy
) -> None:
    engine = make_engine(through(proxy, postgres_url), DatabaseTimeouts(statement=5))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            proxy.cut_after = 100
            proxy.mode = Mode.CUT
            with pytest.raises(OperationalError):
                connection.execute(text("SELECT repeat('x', 100000)"))
        proxy.mode = Mode.PASS
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 2")).scalar_one() == 2
    finally:
        engine.dispose()


def test_a_runaway_sqlite_statement_is_interrupted(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url, DatabaseTimeouts(statement=0.2))
    endless = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    )
    try:
        with engine.connect() as connection:
            with pytest.raises(OperationalError, match="interrupted"):
                connection.execute(endless)
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_serve_starts_without_its_database_and_becomes_ready_when_it_returns(
    postgres_url: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    migrate(postgres_url)
    proxy.mode = Mode.REFUSE
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KADOU_")},
        "KADOU_DATABASE_URL": through(proxy, postgres_url),
        "KADOU_DB_CONNECT_TIMEOUT_SECONDS": "2",
        "KADOU_REPORT_EXPORT": "false",
        "KADOU_SPOOL_DIR": str(tmp_path / "spool"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # With its probe runner, as `kadou serve` runs by default.
            f"from app.serve import serve; serve('127.0.0.1', {port}, with_probes=True)",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def status(path: str) -> int | None:
        assert process.poll() is None, "kadou serve exited while its database was down"
        try:
            return httpx.get(base + path, timeout=5).status_code
        except httpx.TransportError:
            return None

    try:
        wait_for(lambda: status("/healthz") == 200, "kadou serve answers /healthz")
        assert status("/readyz") == 503
        proxy.mode = Mode.PASS
        wait_for(lambda: status("/readyz") == 200, "ready once the database returns")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=BOUND)
    assert "cannot reach the database" in stderr
    assert "Traceback" not in stderr
