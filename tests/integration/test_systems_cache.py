"""``GET /api/v1/systems`` answers every reader of one snapshot with the same encoded body,
and a new snapshot (after ``max_age``, or a write that invalidates it) with a new one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from app.current import CurrentStateCache
from app.main import create_app
from tests.support.api import Api, Clock, add_tokens, make_runtime, migrate, observation

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
CHECK = "info-network/main/http"


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    # A snapshot fresh for a minute, as a busy server's would be between refreshes.
    migrate(sqlite_url)
    runtime = make_runtime(sqlite_url)
    clock = Clock(NOW)
    app = create_app(runtime, now=clock, current_max_age_seconds=60, metrics_refresh_seconds=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, runtime, clock, add_tokens(runtime))
    runtime.engine.dispose()


def locations_of(body: bytes, key: str) -> list[dict[str, object]]:
    for system in json.loads(body)["systems"]:
        for service in system["services"]:
            for check in service["checks"]:
                if check["key"] == key:
                    return list(check["locations"])
    raise AssertionError(f"{key} is not listed")


def test_one_snapshot_one_body_and_a_new_snapshot_a_new_body(api: Api) -> None:
    cache = api.client.app.state.kadou.current  # type: ignore[attr-defined]
    assert isinstance(cache, CurrentStateCache)
    first = api.get("/api/v1/systems")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    snapshot = cache.peek()
    second = api.get("/api/v1/systems", "operator")
    assert second.content == first.content
    assert cache.peek() is snapshot  # answered from the same snapshot, not a new one
    assert locations_of(first.content, CHECK) == []

    at = NOW.astimezone(UTC) - timedelta(minutes=1)
    stored = api.post("/api/v1/results", {"observations": [observation(CHECK, at, False)]})
    assert stored.status_code == 200, stored.text
    # Arriving results wait for the snapshot's max_age (app.current); an invalidation
    # (what a write of exclusions or a month's close does) shows in the next answer.
    assert api.get("/api/v1/systems").content == first.content
    cache.invalidate()
    third = api.get("/api/v1/systems")
    [tokyo] = locations_of(third.content, CHECK)
    assert tokyo["location"] == "tokyo" and tokyo["last_ok"] is False
    # A token that is not valid is refused even when a body is ready for the snapshot.
    assert (
        api.client.get("/api/v1/systems", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
