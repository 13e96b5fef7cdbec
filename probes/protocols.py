"""Which function probes which check type, and ``run_probe``, the runner's one entry point.

This is where the protocol modules are put together, as blackbox_exporter keeps its prober
map in ``main.go``: ``base`` defines the signature, ``http``, ``tcp`` and ``tls`` implement
it, and only this module knows all of them, so none of them imports another's dispatcher.
``run_probe`` picks the function by ``check.type``, enforces ``check.timeout_ms`` on the
whole attempt and turns every exception into a failed result, so one misbehaving target
can never stop the runner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from app.catalog.durations import format_duration
from probes.base import Check, ProbeContext, ProbeResult, describe_error, elapsed_ms
from probes.http import probe_http
from probes.tcp import probe_tcp
from probes.tls import probe_tls

# Each function takes its own kind of check; looking it up by ``check.type`` is what makes
# the call well typed, which the mapping's type cannot say.
PROBES: Mapping[str, Callable[..., Awaitable[ProbeResult]]] = {
    "http": probe_http,
    "tcp": probe_tcp,
    "tls": probe_tls,
}


async def run_probe(check: Check, ctx: ProbeContext) -> ProbeResult:
    """Probe ``check`` once. Never raises (except on cancellation of the caller itself)."""
    started = time.perf_counter()
    probe = PROBES.get(check.type)
    if probe is None:
        return ProbeResult(False, 0.0, f"unknown check type {check.type!r}")
    try:
        async with asyncio.timeout(check.timeout_ms / 1000.0):
            result = await probe(check, ctx)
    except TimeoutError:
        return ProbeResult(False, elapsed_ms(started), "timeout")
    except Exception as exc:
        return ProbeResult(False, elapsed_ms(started), describe_error(exc))
    return _judge_latency(check, result)


def _judge_latency(check: Check, result: ProbeResult) -> ProbeResult:
    """A success slower than ``slow_after``: a warning, or a failure if the catalog says so."""
    if not result.ok or check.slow_after_ms is None or result.latency_ms <= check.slow_after_ms:
        return result
    slow = (
        f"slow: {format_duration(round(result.latency_ms))} > "
        f"{format_duration(check.slow_after_ms)}"
    )
    if check.slow_is_failure:
        return replace(result, ok=False, detail=slow)
    return replace(result, warnings=(*result.warnings, slow))
