"""/metrics: names and values Prometheus accepts (promtool), the same figures as the API."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import record_probe
from app.months import close_month
from app.sla import periods
from tests.support.api import Api, open_api, series

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=JST)
INFO = "info-network/main/http"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    for api in open_api(database_url, NOW):
        start = NOW - timedelta(hours=3)
        items = series(
            INFO,
            start,
            NOW,
            timedelta(seconds=30),
            down=lambda at: (
                NOW - timedelta(hours=2) <= at < NOW - timedelta(hours=1, minutes=30)
                or at >= NOW - timedelta(minutes=1)
            ),
        )
        heartbeat = {"runner": "agent-1", "location": "tokyo", "at": NOW.isoformat(),
                     "interval_seconds": 10}  # fmt: skip
        response = api.post("/api/v1/results", {"observations": items, "heartbeat": heartbeat})
        assert response.status_code == 200
        yield api


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def test_sla_gauges_equal_the_availability_api(api: Api) -> None:
    scrape = api.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = samples(scrape.text)
    document = api.get("/api/v1/availability?month=2026-11").json()
    assert document["period"]["label"] == "2026-11"
    rows = [(row["system"], row["service"], row) for row in document["services"]]
    rows += [(row["system"], "", row) for row in document["systems"]]
    for system, service, row in rows:
        key = labels(system=system, service=service, period="2026-11")
        assert values[("kadou_sla_target_ratio", key)] == row["target"]
        assert values[("kadou_sla_scheduled_seconds", key)] == row["scheduled_seconds"]
        assert values[("kadou_sla_downtime_seconds", key)] == row["downtime_seconds"]
        assert values[("kadou_sla_unknown_seconds", key)] == row["unknown_seconds"]
        if row["availability"] is None:
            assert ("kadou_sla_availability_ratio", key) not in values
        else:
            assert values[("kadou_sla_availability_ratio", key)] == row["availability"]
            remaining = row["error_budget_remaining_seconds"]
            assert values[("kadou_sla_error_budget_remaining_seconds", key)] == remaining
    info = labels(system="info-network", service="main", period="2026-11")
    assert values[("kadou_sla_downtime_seconds", info)] == 30 * 60 + 60  # and the last minute


def test_state_is_one_hot_and_incidents_and_heartbeats_show(api: Api) -> None:
    values = samples(api.get("/metrics").text)
    for system, service in (("info-network", "main"), ("info-network", ""), ("jpki", "main")):
        states = {
            state: values[
                ("kadou_service_state", labels(system=system, service=service, state=state))
            ]
            for state in ("up", "down", "unknown")
        }
        assert sorted(states.values()) == [0, 0, 1]
    down = labels(system="info-network", service="main", state="down")
    assert values[("kadou_service_state", down)] == 1
    unknown = labels(system="jpki", service="main", state="unknown")
    assert values[("kadou_service_state", unknown)] == 1
    assert values[("kadou_incident_open", labels(system="info-network", service="main"))] == 1
    assert values[("kadou_incident_open", labels(system="jpki", service="main"))] == 0
    breached = labels(system="info-network", service="main", period="2026-11")
    assert values[("kadou_recovery_target_breached", breached)] == 0
    beat = labels(runner="agent-1", location="tokyo")
    assert values[("kadou_runner_heartbeat_timestamp_seconds", beat)] == NOW.timestamp()


def test_exclusion_active_follows_the_clock(api: Api) -> None:
    start = NOW + timedelta(hours=1)
    body = {
        "scope": "mynaportal/records",
        "kind": "planned",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "reason": "maintenance",
    }
    assert api.post("/api/v1/exclusions", body, role="operator").status_code == 201
    key = labels(system="mynaportal", service="records", kind="planned")
    assert samples(api.get("/metrics").text)[("kadou_exclusion_active", key)] == 0
    api.clock.now = start + timedelta(minutes=5)
    api.client.app.state.kadou.current.invalidate()  # type: ignore[attr-defined]
    values = samples(api.get("/metrics").text)
    assert values[("kadou_exclusion_active", key)] == 1
    other = labels(system="mynaportal", service="notices", kind="planned")
    assert values[("kadou_exclusion_active", other)] == 0
    system = labels(system="mynaportal", service="", kind="planned")
    assert values[("kadou_exclusion_active", system)] == 0


def test_scrapes_read_the_cached_snapshot(api: Api) -> None:
    cache = api.client.app.state.kadou.current  # type: ignore[attr-defined]
    api.get("/metrics")
    first = cache.peek()
    api.get("/metrics")
    assert cache.peek() is first  # no evaluation per scrape
    cache.refresh()
    assert cache.peek() is not first


def test_probe_metrics_come_from_record_probe(api: Api) -> None:
    # The probe metrics are per process: a location of its own keeps this test's series apart.
    location = f"metrics-{uuid.uuid4().hex[:8]}"
    record_probe("jpki/main/http", location, True, 0.042)
    record_probe("jpki/main/http", location, False, 10.0)
    values = samples(api.get("/metrics").text)
    key = dict(system="jpki", service="main", check="http", location=location)
    assert values[("kadou_probe_success", labels(**key))] == 0
    assert values[("kadou_probe_observations_total", labels(**key, result="success"))] == 1
    assert values[("kadou_probe_observations_total", labels(**key, result="failure"))] == 1
    assert values[("kadou_probe_duration_seconds_count", labels(**key))] == 2
    assert values[("kadou_probe_duration_seconds_bucket", labels(**key, le="0.05"))] == 1


def test_promtool_accepts_a_real_scrape(api: Api) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool is not installed (Debian package `prometheus`)"
        if IN_CI:
            pytest.fail(message + "; it is required in CI")
        pytest.skip(message)
    record_probe("info-network/main/http", "promtool", True, 0.01)
    scrape = api.get("/metrics").text
    assert "kadou_sla_availability_ratio" in scrape and "kadou_probe_success" in scrape
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked.stderr


def test_the_snapshot_time_is_the_evaluation_instant(api: Api) -> None:
    values = samples(api.get("/metrics").text)
    snapshot = values[("kadou_sla_snapshot_timestamp_seconds", frozenset())]
    assert snapshot == NOW.astimezone(UTC).timestamp()


def test_closed_months_show_their_latest_version(api: Api) -> None:
    cache = api.client.app.state.kadou.current  # type: ignore[attr-defined]
    october = periods.month(2026, 10, "Asia/Tokyo")
    assert not any(name == "kadou_month_version" for name, _ in samples(api.get("/metrics").text))
    closing = close_month(api.runtime.sessions, api.runtime.catalog, october, actor="t", now=NOW)
    assert closing is not None
    cache.refresh()
    scrape = api.get("/metrics").text
    assert samples(scrape)[("kadou_month_version", labels(month="2026-10"))] == 1
    promtool = shutil.which("promtool")
    if promtool is not None:
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr
    body = {
        "scope": "info-network",
        "kind": "disaster",
        "start": datetime(2026, 10, 9, 14, tzinfo=JST).isoformat(),
        "end": datetime(2026, 10, 9, 15, tzinfo=JST).isoformat(),
        "reason": "earthquake",
        "retroactive": True,
    }
    assert api.post("/api/v1/exclusions", body, role="admin").status_code == 201
    later = NOW + timedelta(minutes=5)
    amended = close_month(api.runtime.sessions, api.runtime.catalog, october, actor="t", now=later)
    assert amended is not None and amended.version == 2
    cache.refresh()
    values = samples(api.get("/metrics").text)
    assert values[("kadou_month_version", labels(month="2026-10"))] == 2
