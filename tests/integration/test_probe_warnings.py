"""Warnings are not outages: a success that carries a warning stays a success everywhere.

It is stored as ``ok`` (with the warning as its detail, for the pages), it sets
``kadou_probe_warning`` and ``kadou_tls_cert_seconds_left``, and it never reaches downtime.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.catalog.model import TlsCheck
from app.metrics import PROBE_REGISTRY, record_warnings
from probes.base import Check, ProbeContext, ProbeResult
from probes.runner import ProbeRunner
from probes.sink import Heartbeat, ObservationRecord

CHECK = TlsCheck(
    id="cert", key="jpki/main/cert", host="127.0.0.1", port=1, interval_ms=200, timeout_ms=100
)


class Collecting:
    def __init__(self) -> None:
        self.records: list[ObservationRecord] = []

    async def write(
        self, observations: Sequence[ObservationRecord], heartbeat: Heartbeat | None = None
    ) -> None:
        self.records.extend(observations)


async def expiring(check: Check, ctx: ProbeContext) -> ProbeResult:
    return ProbeResult(
        True, 3.0, None, {"cert_days_left": 9.5}, warnings=("cert expires in 9 days",)
    )


def sample(name: str, check: str) -> float:
    text = generate_latest(PROBE_REGISTRY).decode()
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and item.labels.get("check") == check:
                return item.value
    raise AssertionError(f"{name} not exported")


async def test_an_expiring_certificate_is_stored_up_with_its_warning() -> None:
    sink = Collecting()

    def on_result(check: Check, result: ProbeResult) -> None:
        record_warnings(check.key, "tokyo", result.warnings, result.measurements)

    runner = ProbeRunner([CHECK], sink, "tokyo", probe=expiring, on_result=on_result)
    await runner.start()
    try:
        deadline = time.monotonic() + 10
        while runner.stats.probes_finished < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await runner.stop()
    probed = [r for r in sink.records if not r.end_of_observation]
    assert probed
    assert all(r.ok and r.detail == "warning: cert expires in 9 days" for r in probed)
    # Never on the retry cadence: a warning is not a failure.
    assert runner.stats.retry_probes == 0
    assert sample("kadou_tls_cert_seconds_left", "cert") == 9.5 * 86_400
    assert sample("kadou_probe_warning", "cert") == 1
