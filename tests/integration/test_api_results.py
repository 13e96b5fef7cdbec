"""POST /api/v1/results: committed before the answer, idempotent, all-or-nothing, bounded."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from app.api.results import MAX_BATCH
from app.catalog.model import Catalog
from app.main import create_app
from app.store.models import CheckSegment, Observation, RunnerHeartbeat
from tests.support.api import Api, add_tokens, make_runtime, migrate, observation, open_api, series
from tests.support.ports import free_port

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=JST)
CHECK = "info-network/main/http"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    yield from open_api(database_url, NOW)


def stored_count(api_or_runtime: object) -> int:
    runtime = getattr(api_or_runtime, "runtime", api_or_runtime)
    with runtime.sessions() as session:  # type: ignore[attr-defined]
        return int(session.execute(select(func.count()).select_from(Observation)).scalar_one())


def batch(count: int, start: datetime = NOW - timedelta(hours=2)) -> list[dict[str, object]]:
    return series(CHECK, start, start + timedelta(minutes=count), timedelta(minutes=1))


def test_a_batch_is_stored_and_resending_it_is_harmless(api: Api) -> None:
    items = batch(30)
    heartbeat = {
        "runner": "agent-osaka",
        "location": "osaka",
        "at": NOW.isoformat(),
        "interval_seconds": 10.0,
    }
    first = api.post("/api/v1/results", {"observations": items, "heartbeat": heartbeat}, "prober")
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 30, "stored": 30, "duplicates": 0, "heartbeat": True}
    again = api.post("/api/v1/results", {"observations": items, "heartbeat": heartbeat}, "prober")
    assert again.json() == {"received": 30, "stored": 0, "duplicates": 30, "heartbeat": True}
    assert stored_count(api) == 30
    with api.runtime.sessions() as session:
        beat = session.execute(select(RunnerHeartbeat)).scalar_one()
    assert (beat.runner_id, beat.location, beat.interval_ms) == ("agent-osaka", "osaka", 10_000)
    assert beat.last_seen_at == NOW.astimezone(UTC)


def test_the_stored_batch_shows_in_the_current_state(api: Api) -> None:
    # Up for an hour, then two failures in a row at the end: down now (confirm 2).
    items = series(
        CHECK,
        NOW - timedelta(hours=1),
        NOW,
        timedelta(seconds=30),
        down=lambda at: at >= NOW - timedelta(minutes=1),
    )
    assert api.post("/api/v1/results", {"observations": items}, "prober").status_code == 200
    system = api.get("/api/v1/systems/info-network").json()
    service = system["services"][0]
    assert system["state"] == "down" and service["state"] == "down"
    assert service["locations"] == [{"location": "tokyo", "state": "down"}]
    check = service["checks"][0]["locations"][0]
    assert check["last_ok"] is False and check["last_detail"] == "status 503"
    assert check["last_observed_at"] == (NOW - timedelta(seconds=30)).isoformat()
    assert service["month_to_date"]["open_incidents"] == 1


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        ({"check": "jpki/nope/http"}, "observations[7].check", "unknown check"),
        ({"location": "two words"}, "observations[7].location", "location must be"),
        ({"observed_at": "2026-10-20T10:00:00"}, "observations[7].observed_at", "no offset"),
        ({"ok": "true"}, "observations[7].ok", "true or false"),
        ({"latency_ms": -1}, "observations[7].latency_ms", "non-negative"),
        ({"colour": "red"}, "observations[7].colour", "unknown field"),
        ({"end_of_observation": "yes"}, "observations[7].end_of_observation", "true or false"),
        ({"end_of_observation": True}, "observations[7].ok", "mark carries no 'ok'"),
    ],
)
def test_one_bad_item_rejects_the_whole_batch_naming_index_and_field(
    api: Api, bad: dict[str, object], field: str, words: str
) -> None:
    items = batch(10)
    items[7] = {**items[7], **bad}
    response = api.post("/api/v1/results", {"observations": items}, "prober")
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    assert words in problem["errors"][0]["message"]
    assert "item 7" in problem["detail"]
    assert stored_count(api) == 0


def test_an_end_of_observation_mark_ends_the_hold_and_is_idempotent(api: Api) -> None:
    start = NOW - timedelta(hours=2)
    items = series(CHECK, start, start + timedelta(minutes=10), timedelta(minutes=1))
    stopped_at = start + timedelta(minutes=9, seconds=20)
    mark = {
        "check": CHECK,
        "location": "tokyo",
        "observed_at": stopped_at.isoformat(),
        "end_of_observation": True,
    }
    first = api.post("/api/v1/results", {"observations": [mark, *items]}, "prober")
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 11, "stored": 11, "duplicates": 0, "heartbeat": False}
    again = api.post("/api/v1/results", {"observations": [mark]}, "prober")
    assert again.json() == {"received": 1, "stored": 0, "duplicates": 1, "heartbeat": False}
    # The mark is no observation, and the last result holds until it, not for stale_after.
    assert stored_count(api) == 10
    with api.runtime.sessions() as session:
        segments = session.execute(
            select(CheckSegment.start_at, CheckSegment.end_at, CheckSegment.state)
        ).all()
    assert [tuple(row) for row in segments] == [
        (start.astimezone(UTC), stopped_at.astimezone(UTC), "up")
    ]


def test_a_bad_heartbeat_rejects_the_batch(api: Api) -> None:
    body = {
        "observations": batch(3),
        "heartbeat": {"runner": "r", "location": "x", "at": "yesterday", "interval_seconds": 10},
    }
    response = api.post("/api/v1/results", body, "prober")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "heartbeat.at"
    body["heartbeat"] = {"runner": "r", "location": "x", "at": NOW.isoformat()}
    response = api.post("/api/v1/results", body, "prober")
    assert response.json()["errors"][0]["field"] == "heartbeat.interval_seconds"
    assert stored_count(api) == 0


def test_a_batch_over_the_limit_is_413_and_stores_nothing(api: Api) -> None:
    item = observation(CHECK, NOW, True)
    response = api.post("/api/v1/results", {"observations": [item] * (MAX_BATCH + 1)}, "prober")
    assert response.status_code == 413
    assert f"at most {MAX_BATCH}" in response.json()["detail"]
    assert stored_count(api) == 0


def test_a_body_that_is_not_a_batch_is_422(api: Api) -> None:
    response = api.client.post(
        "/api/v1/results",
        content=b"{not json",
        headers={**api.headers("prober"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"]
    response = api.post("/api/v1/results", {"results": []}, "prober")
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"observations", "results"}


# --- a real server, a dropped connection --------------------------------------------------


@pytest.fixture
def live_server(database_url: str) -> Iterator[tuple[str, dict[str, str], object]]:
    migrate(database_url)
    runtime = make_runtime(database_url)
    tokens = add_tokens(runtime)
    app = create_app(runtime, metrics_refresh_seconds=None)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", tokens, runtime
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.engine.dispose()


def test_a_batch_resent_after_a_dropped_connection_is_stored_once(
    live_server: tuple[str, dict[str, str], object],
) -> None:
    base, tokens, runtime = live_server
    items = batch(2000, start=datetime(2026, 10, 1, tzinfo=JST))
    body = json.dumps({"observations": items, "heartbeat": None}).encode()
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"POST /api/v1/results HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {tokens['prober']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    # The agent sends the whole batch, then loses the connection before the answer.
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(request + body)
        connection.shutdown(socket.SHUT_RDWR)
    # It cannot know whether the batch was stored, so it sends it again.
    response = httpx.post(
        base + "/api/v1/results",
        content=body,
        headers={"Authorization": f"Bearer {tokens['prober']}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["received"] == 2000
    assert answer["stored"] + answer["duplicates"] == 2000
    # The first request may still be finishing in the server: wait for it, then count.
    deadline = time.monotonic() + 10
    while stored_count(runtime) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert stored_count(runtime) == 2000


def test_a_post_does_not_rebuild_the_catalogs_index_of_checks(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each post checks its items against the catalog's checks through the runtime's map,
    built once: rebuilding it (a dict of every check) cost each post time in proportion to
    the catalog, 1 ms at 10,000 checks."""
    api.runtime.timeline_params  # noqa: B018 (built, as kadou serve builds it at start)
    calls = []
    checks = Catalog.checks

    def counted(catalog: Catalog) -> dict[str, Any]:
        calls.append(catalog)
        return checks(catalog)

    monkeypatch.setattr(Catalog, "checks", counted)
    response = api.post("/api/v1/results", {"observations": batch(5)}, "prober")
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 5
    unknown = api.post(
        "/api/v1/results", {"observations": [{**batch(1)[0], "check": "no/such/check"}]}, "prober"
    )
    assert unknown.status_code == 422
    assert "unknown check 'no/such/check'" in unknown.text
    assert calls == []
