"""``GET /api/v1/assignments``: runners of one location share its checks, and a runner
whose heartbeat goes stale hands its checks over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.assignments import LIVE_INTERVALS
from tests.support.api import Api, open_api

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=JST)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    yield from open_api(database_url, NOW)


def beat(api: Api, runner: str, location: str = "tokyo") -> None:
    body = {
        "observations": [],
        "heartbeat": {
            "runner": runner,
            "location": location,
            "at": api.clock.now.isoformat(),
            "interval_seconds": 10,
        },
    }
    response = api.post("/api/v1/results", body, role="prober")
    assert response.status_code == 200, response.text


def assigned(api: Api, runner: str, location: str = "tokyo") -> dict[str, object]:
    response = api.get(f"/api/v1/assignments?location={location}&runner={runner}", role="prober")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_two_runners_share_the_checks_and_a_stale_one_hands_them_over(api: Api) -> None:
    every_check = sorted(api.runtime.catalog.checks())
    beat(api, "tokyo-a")
    beat(api, "tokyo-b")
    beat(api, "osaka-a", location="osaka")
    first, second = assigned(api, "tokyo-a"), assigned(api, "tokyo-b")
    assert first["live_runners"] == second["live_runners"] == ["tokyo-a", "tokyo-b"]
    mine, theirs = set(first["checks"]), set(second["checks"])  # type: ignore[call-overload]
    assert mine and theirs and not mine & theirs
    assert sorted(mine | theirs) == every_check
    assert first["ask_again_seconds"] == 10
    # Another location's runner probes all of its own location's checks.
    assert assigned(api, "osaka-a", location="osaka")["checks"] == every_check

    # tokyo-b stops beating; tokyo-a goes on. Past the liveness limit, a has everything.
    api.clock.now += timedelta(seconds=10 * LIVE_INTERVALS - 1)
    beat(api, "tokyo-a")
    assert assigned(api, "tokyo-a")["checks"] == sorted(mine)
    api.clock.now += timedelta(seconds=2)
    beat(api, "tokyo-a")
    taken_over = assigned(api, "tokyo-a")
    assert taken_over["live_runners"] == ["tokyo-a"]
    assert taken_over["checks"] == every_check


def test_a_runner_that_asks_gets_its_share_before_its_first_heartbeat(api: Api) -> None:
    beat(api, "tokyo-a")
    newcomer = assigned(api, "tokyo-new")
    assert newcomer["live_runners"] == ["tokyo-a", "tokyo-new"] and newcomer["checks"]


def test_assignments_are_for_probers_and_name_bad_parameters(api: Api) -> None:
    path = "/api/v1/assignments?location=tokyo&runner=a"
    assert api.get(path, role="viewer").status_code == 403
    missing = api.get("/api/v1/assignments?location=tokyo", role="prober")
    assert missing.status_code == 422 and "runner" in missing.text
    bad = api.get("/api/v1/assignments?location=to%20kyo&runner=a", role="prober")
    assert bad.status_code == 422 and "location" in bad.text
    assert api.get(path + "&extra=1", role="prober").status_code == 422


def test_runners_list_shows_how_many_checks_each_runner_probes(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    from datetime import UTC

    from app.store.db import make_engine, session_factory, transaction
    from app.store.ingest import HeartbeatIn, record_heartbeat
    from tests.support.cli import KadouCli

    kadou = KadouCli(monkeypatch, sqlite_url)
    kadou("db", "upgrade")
    engine = make_engine(sqlite_url)
    now = datetime.now(UTC)
    with transaction(session_factory(engine)) as session:
        record_heartbeat(session, HeartbeatIn("tokyo-a", "tokyo", now, 60_000))
        record_heartbeat(session, HeartbeatIn("tokyo-b", "tokyo", now, 60_000))
        record_heartbeat(
            session, HeartbeatIn("tokyo-gone", "tokyo", now - timedelta(hours=1), 60_000)
        )
    engine.dispose()
    output = kadou("runners", "list")
    counts = {
        line.split()[0]: int(line.rsplit("probes ", 1)[1].split()[0])
        for line in output.splitlines()
        if "probes" in line and "nothing" not in line
    }
    from app.catalog import load_catalog

    assert set(counts) == {"tokyo-a", "tokyo-b"}
    assert sum(counts.values()) == len(load_catalog().checks()) and min(counts.values()) > 0
    assert "tokyo-gone" in output and "stale: probes nothing" in output
