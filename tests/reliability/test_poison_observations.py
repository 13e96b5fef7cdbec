"""Observations outside any sensible bound are refused with a 422 naming the item and the
field (and by `kadou import` with the line number, exit 2), never stored and never a 500.

An agent treats a 500 as "retry later", so one such observation used to block its spool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.store.models import Observation
from tests.support.api import Api, observation, open_api
from tests.support.cli import KadouCli

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=JST)
CHECK = "info-network/main/http"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    yield from open_api(database_url, NOW)


def stored(api: Api) -> int:
    with api.runtime.sessions() as session:
        return int(session.execute(select(func.count()).select_from(Observation)).scalar_one())


def good_items(count: int = 3) -> list[dict[str, object]]:
    return [observation(CHECK, NOW - timedelta(minutes=10 - i), True) for i in range(count)]


def post_raw(api: Api, body: str) -> object:
    return api.client.post(
        "/api/v1/results",
        content=body.encode(),
        headers={**api.headers("prober"), "content-type": "application/json"},
    )


@pytest.mark.parametrize(
    "observed_at",
    [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+09:00",
        "1900-01-01T00:00:00Z",
        "1999-12-31T23:59:59.999Z",
        # Tomorrow, by the server's clock (NOW).
        (NOW + timedelta(days=1)).isoformat(),
        (NOW + timedelta(minutes=11)).isoformat(),
    ],
)
def test_an_observed_at_out_of_bounds_is_422_naming_item_and_field(
    api: Api, observed_at: str
) -> None:
    items = good_items()
    items.insert(1, {**observation(CHECK, NOW, True), "observed_at": observed_at})
    response = api.post("/api/v1/results", {"observations": items}, "prober")
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == "observations[1].observed_at"
    assert "2000-01-01" in error["message"] and "clock" in error["message"]
    assert stored(api) == 0


def test_the_bounds_are_inclusive_of_a_little_clock_drift(api: Api) -> None:
    items = [
        {**observation(CHECK, NOW, True), "observed_at": "2000-01-01T00:00:00Z"},
        observation(CHECK, NOW + timedelta(minutes=9), True),
    ]
    response = api.post("/api/v1/results", {"observations": items}, "prober")
    assert response.status_code == 200, response.text
    assert stored(api) == 2


@pytest.mark.parametrize("latency", ["NaN", "Infinity", "-Infinity", "1e999", "-1", "86400001"])
def test_a_latency_that_is_not_a_finite_day_or_less_is_422(api: Api, latency: str) -> None:
    items = [json.dumps(item) for item in good_items()]
    bad = json.dumps(observation(CHECK, NOW, True)).replace(
        '"latency_ms": 12.5', f'"latency_ms": {latency}'
    )
    assert latency in bad
    items.insert(2, bad)
    response = post_raw(api, '{"observations": [' + ", ".join(items) + "]}")
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    error = response.json()["errors"][0]  # type: ignore[attr-defined]
    assert error["field"] == "observations[2].latency_ms", error
    assert stored(api) == 0


def test_a_latency_of_a_whole_day_is_accepted(api: Api) -> None:
    item = {**observation(CHECK, NOW, True), "latency_ms": 86_400_000}
    assert api.post("/api/v1/results", {"observations": [item]}, "prober").status_code == 200


def test_one_batch_with_the_same_observation_twice_with_different_results_is_422(
    api: Api,
) -> None:
    items = good_items(4)
    items.append({**items[1], "ok": False, "latency_ms": None, "detail": "status 503"})
    response = api.post("/api/v1/results", {"observations": items}, "prober")
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "observations[4].ok"
    assert "items 1 and 4" in problem["detail"]
    assert stored(api) == 0


def test_the_same_instant_in_another_offset_is_the_same_observation(api: Api) -> None:
    first = observation(CHECK, NOW, True)
    second = {**first, "ok": False, "observed_at": NOW.isoformat()}  # +09:00, same instant
    response = api.post("/api/v1/results", {"observations": [first, second]}, "prober")
    assert response.status_code == 422


def test_an_identical_resent_observation_in_one_batch_is_harmless(api: Api) -> None:
    items = good_items(3)
    response = api.post("/api/v1/results", {"observations": [*items, items[0]]}, "prober")
    assert response.status_code == 200, response.text
    assert response.json()["duplicates"] == 1
    assert stored(api) == 3


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, sqlite_url)
    cli("db", "upgrade")
    return cli


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("observed_at", "9999-12-31T23:59:59Z"),
        ("observed_at", "0001-01-01T00:00:00+09:00"),
        ("latency_ms", float("inf")),
        ("latency_ms", float("nan")),
    ],
)
def test_kadou_import_of_a_poison_line_exits_2_naming_the_line(
    kadou: KadouCli, tmp_path: Path, field: str, value: object
) -> None:
    good = {
        "check": CHECK,
        "location": "tokyo",
        "observed_at": "2026-10-01T00:00:00+09:00",
        "ok": True,
        "latency_ms": 1.0,
    }
    lines = [json.dumps(good), json.dumps({**good, "observed_at": "2026-10-01T00:01:00+09:00"})]
    lines.append(json.dumps({**good, field: value}))  # json writes NaN / Infinity as such
    data = tmp_path / "poison.jsonl"
    data.write_text("\n".join(lines) + "\n")
    output = kadou("import", str(data), expect=2)
    assert output.strip().count("\n") == 0, output
    assert "line 3" in output and field in output
    assert "Traceback" not in output
