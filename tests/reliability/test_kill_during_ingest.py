"""``kill -9`` of ``kadou serve`` while agents post results: every acknowledged observation
is stored (an answer comes only after the commit), on SQLite and on PostgreSQL.

Four clients post batches concurrently; the server is killed twice, each time once enough
batches have been acknowledged, and restarted. Afterwards every observation of every
acknowledged batch must be in the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from app.store.db import normalize_url
from app.store.models import Observation
from app.store.types import truncate_to_ms
from tests.reliability.conftest import free_port
from tests.support.api import migrate
from tests.support.cli import KadouCli

ROOT = Path(__file__).resolve().parents[2]
CHECK = "info-network/main/http"
CLIENTS = 4
BATCH = 200
KILLS = 2
BOUND = 60.0  # seconds: the most any wait below may take before the test fails


class Serve:
    def __init__(self, database_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KADOU_")}
        env.update(KADOU_DATABASE_URL=database_url, KADOU_REPORT_EXPORT="false")
        code = f"from app.serve import serve; serve('127.0.0.1', {self.port}, with_probes=False)"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + BOUND
        while True:
            assert self.process.poll() is None, "kadou serve exited while starting"
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kadou serve did not become ready"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=BOUND)


class Agent(threading.Thread):
    """Posts batches of new observations until stopped; remembers what was acknowledged."""

    def __init__(self, number: int, token: str, start: datetime) -> None:
        super().__init__(daemon=True)
        self.location = f"agent-{number}"
        self.token = token
        self.start_at = start
        self.base = ""
        self.acknowledged: list[datetime] = []
        self.sent = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                times = [self.start_at + timedelta(seconds=self.sent + i) for i in range(BATCH)]
                body = {
                    "observations": [
                        {
                            "check": CHECK,
                            "location": self.location,
                            "observed_at": at.isoformat(timespec="milliseconds"),
                            "ok": i % 17 != 0,
                            "latency_ms": 5.0,
                            "detail": None,
                        }
                        for i, at in enumerate(times)
                    ]
                }
                try:
                    response = client.post(
                        self.base + "/api/v1/results",
                        json=body,
                        headers={"Authorization": f"Bearer {self.token}"},
                    )
                except httpx.TransportError:
                    time.sleep(0.05)  # the server is down; re-send the same batch
                    continue
                if response.status_code == 200:
                    self.acknowledged.extend(times)
                    self.sent += BATCH
                else:
                    time.sleep(0.05)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_kill_9_during_ingest_loses_no_acknowledged_observation(
    database: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = str(request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_url"))
    migrate(url)
    token = (
        KadouCli(monkeypatch, url)("token", "create", "--name", "agent", "--role", "prober")
        .strip()
        .splitlines()[-1]
    )
    start = datetime.now(UTC) - timedelta(days=2)
    agents = [Agent(n, token, start) for n in range(CLIENTS)]
    server = Serve(url)
    for agent in agents:
        agent.base = server.base
        agent.start()
    try:
        for kill in range(KILLS):
            goal = sum(len(a.acknowledged) for a in agents) + 10 * BATCH
            deadline = time.monotonic() + BOUND
            while sum(len(a.acknowledged) for a in agents) < goal:
                assert time.monotonic() < deadline, "the agents' batches are not acknowledged"
                time.sleep(0.02)
            server.kill()  # mid-stream: the agents have batches in flight
            if kill < KILLS - 1:
                server = Serve(url)
                for agent in agents:
                    agent.base = server.base
    finally:
        for agent in agents:
            agent.stop.set()
        for agent in agents:
            agent.join(timeout=BOUND)
        if server.process.poll() is None:
            server.kill()

    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            stored = {
                (location, truncate_to_ms(at.astimezone(UTC)))
                for location, at in connection.execute(
                    select(Observation.location, Observation.observed_at)
                )
            }
    finally:
        engine.dispose()
    acknowledged = {(a.location, truncate_to_ms(at)) for a in agents for at in a.acknowledged}
    assert len(acknowledged) >= KILLS * 10 * BATCH
    lost = acknowledged - stored
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged observations lost"
