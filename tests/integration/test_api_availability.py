"""GET /availability is `kadou report --format json`; GET /incidents lists the same incidents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.api import Api, open_api, post_all, series
from tests.support.cli import KadouCli

JST = ZoneInfo("Asia/Tokyo")
# After October: the report of October is complete for the CLI (real clock) and the API.
NOW = datetime(2026, 11, 1, 6, 0, tzinfo=JST)
INFO = "info-network/main/http"
JPKI = "jpki/main/http"


def _down_across_month_end(at: datetime) -> bool:
    # SLA-SEMANTICS §7: down 10-31 23:50 to 11-01 00:40 JST.
    return (
        datetime(2026, 10, 31, 23, 50, tzinfo=JST) <= at < datetime(2026, 11, 1, 0, 40, tzinfo=JST)
    )


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    for api in open_api(database_url, NOW):
        start = datetime(2026, 10, 31, 20, 0, tzinfo=JST)
        end = datetime(2026, 11, 1, 2, 0, tzinfo=JST)
        step = timedelta(minutes=1)
        items = series(INFO, start, end, step, down=_down_across_month_end)
        items += series(JPKI, start, end, step, location="osaka")
        post_all(api, items)
        yield api


def without_generated_at(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "generated_at"}


@pytest.mark.parametrize(
    ("query", "cli_args"),
    [
        ({"month": "2026-10"}, ["--month", "2026-10"]),
        (
            {"month": "2026-10", "system": "info-network"},
            ["--month", "2026-10", "--system", "info-network"],
        ),
        (
            {"month": "2026-10", "system": "mynaportal", "service": "records"},
            ["--month", "2026-10", "--system", "mynaportal", "--service", "records"],
        ),
    ],
)
def test_availability_is_the_report_json(
    api: Api,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    query: dict[str, str],
    cli_args: list[str],
) -> None:
    response = api.get("/api/v1/availability", params=query)
    assert response.status_code == 200, response.text
    kadou = KadouCli(monkeypatch, database_url)
    printed = json.loads(kadou("report", "--format", "json", *cli_args))
    assert without_generated_at(response.json()) == without_generated_at(printed)
    if "system" not in query:
        info = next(s for s in printed["services"] if s["system"] == "info-network")
        assert info["downtime_seconds"] == 600  # 23:50-24:00: the October part only


def test_fiscal_year_and_ranges(api: Api) -> None:
    fiscal = api.get("/api/v1/availability?fiscal_year=2026").json()
    assert fiscal["period"]["label"] == "FY2026"
    assert fiscal["data_cutoff"] == NOW.isoformat()
    ranged = api.get(
        "/api/v1/availability",
        params={"start": "2026-10-31T23:00", "end": "2026-11-01T01:00", "system": "info-network"},
    ).json()
    assert ranged["period"]["kind"] == "range"
    assert ranged["services"][0]["downtime_seconds"] == 50 * 60


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "month"),
        ({"month": "2026-10", "fiscal_year": "2026"}, "fiscal_year"),
        ({"month": "2026-13"}, "month"),
        ({"fiscal_year": "last year"}, "fiscal_year"),
        ({"start": "2026-10-01T00:00"}, "end"),
        ({"start": "2026-10-02", "end": "2026-10-01"}, "end"),
        ({"start": "soon", "end": "2026-10-01"}, "start"),
        ({"month": "2026-10", "service": "main"}, "system"),
    ],
)
def test_a_period_must_be_given_exactly_once(api: Api, query: dict[str, str], field: str) -> None:
    response = api.get("/api/v1/availability", params=query)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_unknown_system_or_service_is_404_with_the_choices(api: Api) -> None:
    response = api.get("/api/v1/availability?month=2026-10&system=nope")
    assert response.status_code == 404
    assert "info-network" in response.json()["detail"]
    response = api.get("/api/v1/incidents?system=mynaportal&service=nope")
    assert response.status_code == 404
    assert "records, self-info, notices" in response.json()["detail"]


def test_an_incident_crossing_the_month_end_is_listed_in_both_months(api: Api) -> None:
    october = api.get("/api/v1/incidents?month=2026-10&system=info-network").json()["incidents"]
    november = api.get("/api/v1/incidents?month=2026-11&system=info-network").json()["incidents"]
    for listed, downtime in ((october, 600), (november, 2400)):
        service = [i for i in listed if i["service"] == "main"]
        assert len(service) == 1
        incident = service[0]
        assert incident["start"] == "2026-10-31T23:50:00+09:00"
        assert incident["end"] == "2026-11-01T00:40:00+09:00"
        assert incident["recovery_seconds"] == 3000
        assert incident["recovery_target_seconds"] == 8 * 3600
        assert incident["recovery_met"] is True
        assert incident["downtime_seconds"] == downtime
        assert any(i["service"] is None for i in listed)  # the system's own incident


def test_open_incidents_only(api: Api) -> None:
    # Two more failures at the end of the data: an ongoing incident on jpki at osaka.
    tail = series(
        JPKI,
        datetime(2026, 11, 1, 2, 0, tzinfo=JST),
        datetime(2026, 11, 1, 2, 2, tzinfo=JST),
        timedelta(minutes=1),
        down=lambda _at: True,
        location="osaka",
    )
    post_all(api, tail)
    api.clock.now = datetime(2026, 11, 1, 2, 2, tzinfo=JST)
    listed = api.get("/api/v1/incidents?open=true").json()["incidents"]
    assert {(i["system"], i["service"]) for i in listed} == {("jpki", "main"), ("jpki", None)}
    assert all(i["ongoing"] and i["end"] is None and i["recovery_seconds"] is None for i in listed)
    every = api.get("/api/v1/incidents").json()["incidents"]
    assert len(every) > len(listed)
