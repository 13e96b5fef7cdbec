"""A database black hole while `kadou serve` keeps probing: nothing stalls, nothing is lost.

The server runs its embedded probe runner against a local target, with PostgreSQL behind a
fault proxy. For the outage the database accepts and never answers: /healthz must keep
answering, /readyz must say 503, and the probes must go on. Once the database returns the
service must be ready again by itself within a few seconds, and every probe result taken
before, during and after the outage must end up stored (the writer's spool drains).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.catalog import parse_catalog
from app.runtime import Runtime
from app.settings import Settings
from probes.sink import writer_statuses
from tests.reliability.conftest import LiveServer, run_server
from tests.reliability.test_database_faults import through, wait_for
from tests.support.api import migrate
from tests.support.catalogs import one_service_catalog
from tests.support.faultproxy import FaultProxy, Mode

CHECK = "jpki/main/http"
# The production case is a 60 s outage (bench/database_faults.py measures the latencies of
# an outage whose length follows its --polls). 20 s keeps the suite bounded while still
# spanning several of the writer's back-off steps and many probe intervals.
BLACK_HOLE_SECONDS = 20
# Waits that bound the test; they are not performance goals.
DRAIN_WITHIN = 45.0
READY_WITHIN = 5.0
HEALTHZ_WITHIN = 1.0


class ProbeTarget:
    """An HTTP target that counts the successful answers it gave, and can start failing.

    Once closed it answers 503, so the successful probe results are exactly the answers
    counted before: that is how many ``ok`` observations must be stored.
    """

    def __init__(self) -> None:
        self.answered_ok = 0
        self.closed = False
        self._lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with target._lock:
                    status = 503 if target.closed else 200
                    if status == 200:
                        target.answered_ok += 1
                body = b'{"status":"ok"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/ok"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> int:
        """Stop answering 200; how many 200s were given."""
        with self._lock:
            self.closed = True
            return self.answered_ok

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[FaultProxy]:
    parsed = make_url(postgres_url)
    with FaultProxy(parsed.host or "127.0.0.1", parsed.port or 5432) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def target() -> Iterator[ProbeTarget]:
    probe_target = ProbeTarget()
    try:
        yield probe_target
    finally:
        probe_target.stop()


@pytest.fixture
def server(
    postgres_url: str, proxy: FaultProxy, target: ProbeTarget, tmp_path: Path
) -> Iterator[LiveServer]:
    migrate(postgres_url)
    catalog = parse_catalog(
        one_service_catalog(target.url, interval="300ms", timeout="250ms"), "embedded"
    )
    settings = Settings(
        database_url=through(proxy, postgres_url),
        location="tokyo",
        spool_dir=tmp_path / "spool",
        db_connect_timeout_seconds=2,
        db_pool_timeout_seconds=2,
        db_statement_timeout_seconds=2,
    )
    runtime = Runtime(settings=settings, catalog=catalog)
    yield from run_server(runtime, with_probes=True)


def stored_ok(postgres_url: str) -> int:
    """Successful observations of the check, read directly (not through the proxy)."""
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            count: int = connection.execute(
                text('SELECT count(*) FROM observations WHERE "check" = :check AND ok'),
                {"check": CHECK},
            ).scalar_one()
            return count
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_black_hole_with_probes_running_loses_nothing(
    server: LiveServer, proxy: FaultProxy, target: ProbeTarget, postgres_url: str
) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as client:
        wait_for(lambda: stored_ok(postgres_url) >= 3, "the first probe results stored")
        assert client.get("/readyz").status_code == 200

        proxy.mode = Mode.BLACK_HOLE
        hole_began = time.monotonic()
        probed_before = target.answered_ok
        readyz: list[int] = []
        healthz_polls = 0
        while time.monotonic() - hole_began < BLACK_HOLE_SECONDS:
            # /healthz never touches the database: it answers at once, all along.
            assert client.get("/healthz", timeout=HEALTHZ_WITHIN).status_code == 200
            healthz_polls += 1
            readyz.append(client.get("/readyz", timeout=10).status_code)
        assert healthz_polls > 0
        # The first /readyz may still be answered by a check begun before the hole; after
        # that the outage is known.
        assert set(readyz[1:]) == {503}, readyz
        # Probing went on during the outage: these results wait in the writer's spool.
        assert target.answered_ok > probed_before + 10

        proxy.mode = Mode.PASS
        wait_for(
            lambda: client.get("/readyz").status_code == 200,
            "ready again once the database returns",
            within=READY_WITHIN,
        )

        probed = target.close()
        # Every successful probe result is stored once the spool has drained: none lost.
        wait_for(
            lambda: stored_ok(postgres_url) >= probed,
            f"all {probed} probe results stored",
            within=DRAIN_WITHIN,
        )
        assert stored_ok(postgres_url) == probed
        embedded = [s for s in writer_statuses() if s.name == "embedded"]
        assert embedded and embedded[0].dropped == 0
