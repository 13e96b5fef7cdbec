"""Probes delivered by a remote agent show in kadou_probe_* once each, however often re-sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import Api, open_api, series

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 12, tzinfo=JST)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from open_api(sqlite_url, NOW, public_read=True)


def probe_samples(api: Api, location: str) -> dict[tuple[str, str], float]:
    text = api.get("/metrics", role=None).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("location") == location and sample.name in (
                "kadou_probe_observations_total",
                "kadou_probe_success",
            ):
                samples[(sample.name, sample.labels.get("result", ""))] = sample.value
    return samples


def test_agent_probes_are_counted_once(api: Api) -> None:
    start = datetime(2026, 11, 20, 11, tzinfo=JST)
    batch = series("jpki/main/http", start, start + timedelta(minutes=10), timedelta(minutes=1),
                   down=lambda at: at >= start + timedelta(minutes=9), location="fukuoka")  # fmt: skip
    for _ in range(2):  # the second delivery is a retry after a lost answer
        answer = api.post("/api/v1/results", {"observations": batch}, role="prober")
        assert answer.status_code == 200
    samples = probe_samples(api, "fukuoka")
    assert samples[("kadou_probe_observations_total", "success")] == 9
    assert samples[("kadou_probe_observations_total", "failure")] == 1
    assert samples[("kadou_probe_success", "")] == 0  # the latest result failed
