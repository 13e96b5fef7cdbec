"""``/metrics`` for Prometheus.

Two sources, one page:

* **Probe metrics** (``kadou_probe_*``), fed by :func:`record_probe`, which the embedded
  probe runner calls after every probe and ``POST /api/v1/results`` calls for every
  observation a remote agent delivers (once each). They live in the process that saw them.
* **SLA metrics**, from the current-state snapshot (``app.current``): the same
  ``evaluate_period``/``report_document`` call as ``GET /api/v1/availability``, so
  Prometheus, the API, the pages and the reports always agree. The snapshot is refreshed in
  the background (every 15 s by default) and its rendered text is cached, so a scrape
  never evaluates raw data and costs the same with 5 services or 1,000.

Label conventions: every per-service series has ``system`` and ``service``; the system
itself (SLA-SEMANTICS §3.5) is the series with ``service=""``, so all series of a family
have the same label names. ``period`` is the month being measured (``"2026-11"``, in the
reporting time zone). Availability and the remaining error budget are absent, not NaN,
while they are undefined (nothing scheduled or no data yet: SLA-SEMANTICS §5).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.current import STATES, UNKNOWN, CurrentState, CurrentStateCache
from app.sla.exclusions import ExclusionKind

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
PROBE_LABELS = ("system", "service", "check", "location")
# From a fast local health endpoint to a probe that runs into a 10-30 s timeout.
PROBE_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

PROBE_REGISTRY = CollectorRegistry(auto_describe=False)
PROBE_SUCCESS = Gauge(
    "kadou_probe_success",
    "Whether the last probe of the check from this location succeeded (1) or failed (0)",
    PROBE_LABELS,
    registry=PROBE_REGISTRY,
)
PROBE_DURATION = Histogram(
    "kadou_probe_duration_seconds",
    "Wall time of probes of the check from this location",
    PROBE_LABELS,
    buckets=PROBE_DURATION_BUCKETS,
    registry=PROBE_REGISTRY,
)
PROBE_RETRIES = Counter(
    "kadou_probe_retries",
    "Probes run every retry_interval (instead of every interval) because the check's last "
    "probe failed; included in kadou_probe_observations_total",
    PROBE_LABELS,
    registry=PROBE_REGISTRY,
)
PROBE_WARNING = Gauge(
    "kadou_probe_warning",
    "Whether the last probe of the check from this location succeeded with a warning "
    "(certificate expiring soon, slow answer): 1, else 0. Never downtime",
    PROBE_LABELS,
    registry=PROBE_REGISTRY,
)
TLS_CERT_SECONDS_LEFT = Gauge(
    "kadou_tls_cert_seconds_left",
    "Seconds until the certificate the TLS check saw expires (negative: expired)",
    PROBE_LABELS,
    registry=PROBE_REGISTRY,
)
PROBE_OBSERVATIONS = Counter(
    "kadou_probe_observations",
    "Probes run by this process, by result (success or failure)",
    (*PROBE_LABELS, "result"),
    registry=PROBE_REGISTRY,
)


class WriterCollector(Collector):
    """The probe runner's writer of this process: backlog, drops, dead letters.

    Read at scrape time from ``probes.sink.writer_statuses()`` (the embedded runner of
    ``kadou serve``, or ``kadou probe``'s), so the figures are the writer's own counters and
    nothing can drift between them and the logs.
    """

    def collect(self) -> Iterator[Metric]:
        try:
            from probes.sink import writer_statuses
        except ImportError:  # an installation without the probes package
            return
        labels = ["writer"]
        backlog = GaugeMetricFamily(
            "kadou_writer_backlog",
            "Observations probed but not yet stored: buffered, being stored, or spooled",
            labels=labels,
        )
        spool_bytes = GaugeMetricFamily(
            "kadou_writer_spool_bytes", "Bytes of observations waiting in the spool", labels=labels
        )
        held = GaugeMetricFamily(
            "kadou_writer_held_batches",
            "Spooled batches that failed on their own and are retried with back-off",
            labels=labels,
        )
        dropped = CounterMetricFamily(
            "kadou_writer_dropped",
            "Observations lost because the spool was full or could not be written",
            labels=labels,
        )
        dead_letter = CounterMetricFamily(
            "kadou_agent_dead_letter",
            "Observations the server refused for good (HTTP 4xx), set aside in the spool's "
            "rejected/ directory with the server's reason",
            labels=labels,
        )
        for status in writer_statuses():
            backlog.add_metric([status.name], status.backlog)
            spool_bytes.add_metric([status.name], status.spool_bytes)
            held.add_metric([status.name], status.held_batches)
            dropped.add_metric([status.name], status.dropped)
            dead_letter.add_metric([status.name], status.dead_letter)
        yield from (backlog, spool_bytes, held, dropped, dead_letter)


PROBE_REGISTRY.register(WriterCollector())


class DroppedResultsCollector(Collector):
    """Results the embedded runner's store sink did not store, by reason."""

    def collect(self) -> Iterator[Metric]:
        from app.store.sink import dropped_results

        dropped = CounterMetricFamily(
            "kadou_results_dropped",
            "Probe results not stored, by reason (unknown_check: the check is no longer in "
            "the catalog, e.g. removed while its probe ran or its results waited in the spool)",
            labels=["reason"],
        )
        for reason, number in sorted(dropped_results().items()):
            dropped.add_metric([reason], number)
        yield dropped


PROBE_REGISTRY.register(DroppedResultsCollector())


def _split_key(check_key: str) -> tuple[str, str, str]:
    parts = check_key.split("/")
    if len(parts) != 3:
        return check_key, "", ""
    return parts[0], parts[1], parts[2]


def record_probe(check_key: str, location: str, ok: bool, duration_s: float) -> None:
    """One probe result, for the ``kadou_probe_*`` metrics (embedded runner and agents)."""
    labels = (*_split_key(check_key), location)
    PROBE_SUCCESS.labels(*labels).set(1 if ok else 0)
    PROBE_DURATION.labels(*labels).observe(max(0.0, duration_s))
    PROBE_OBSERVATIONS.labels(*labels, "success" if ok else "failure").inc()


def record_warnings(
    check_key: str, location: str, warnings: Sequence[str], measurements: Mapping[str, float]
) -> None:
    """A probe's warnings and the certificate's days left (the embedded runner's probes)."""
    labels = (*_split_key(check_key), location)
    PROBE_WARNING.labels(*labels).set(1 if warnings else 0)
    days_left = measurements.get("cert_days_left")
    if days_left is not None:
        TLS_CERT_SECONDS_LEFT.labels(*labels).set(days_left * 86_400)


def record_retry(check_key: str, location: str) -> None:
    """One probe on the retry cadence (``retry_interval``), for ``kadou_probe_retries_total``."""
    PROBE_RETRIES.labels(*_split_key(check_key), location).inc()


def _gauge(name: str, documentation: str, labels: Iterable[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


# The period's figures, one gauge per field of a document row (system or service):
# (metric name, help text, row key). A field that is None (availability and the remaining
# budget while undefined, SLA-SEMANTICS §5) leaves its series out rather than writing NaN.
_FIGURE_GAUGES: tuple[tuple[str, str, str], ...] = (
    (
        "kadou_sla_availability_ratio",
        "Availability of the month to date (SLA-SEMANTICS §5); absent while undefined",
        "availability",
    ),
    ("kadou_sla_target_ratio", "Availability target", "target"),
    (
        "kadou_sla_scheduled_seconds",
        "Scheduled time of the month to date (operating hours minus exclusions)",
        "scheduled_seconds",
    ),
    (
        "kadou_sla_downtime_seconds",
        "Downtime inside scheduled time, month to date",
        "downtime_seconds",
    ),
    (
        "kadou_sla_unknown_seconds",
        "Scheduled time without data, month to date",
        "unknown_seconds",
    ),
    (
        "kadou_sla_error_budget_remaining_seconds",
        "The month's error budget, taken on its whole scheduled time from the 1st, minus the "
        "downtime so far (may be negative); absent while undefined",
        "error_budget_remaining_seconds",
    ),
)
_SLA_LABELS = ("system", "service", "period")

# A document row with its series labels: the system itself has ``service=""``.
_Row = tuple[str, str, dict[str, Any]]


def _rows(state: CurrentState) -> list[_Row]:
    # A service removed from the catalog this month has no current state to export; its
    # time until the removal still counts in its system's figures (SLA-SEMANTICS §8).
    services, systems = state.document["services"], state.document["systems"]
    rows: list[_Row] = [
        (row["system"], row["service"], row) for row in services if "removed_at" not in row
    ]
    rows += [(row["system"], "", row) for row in systems if "removed_at" not in row]
    return rows


def _state_family(state: CurrentState, rows: Sequence[_Row]) -> Metric:
    family = _gauge(
        "kadou_service_state",
        'Current state of the service (system: service=""), one-hot over up, down, unknown',
        ("system", "service", "state"),
    )
    for system_id, service_id, _row in rows:
        current = state.states.get((system_id, service_id or None), UNKNOWN)
        for name in STATES:
            family.add_metric([system_id, service_id, name], 1 if current == name else 0)
    return family


def _figure_families(period: str, rows: Sequence[_Row]) -> list[Metric]:
    families: list[Metric] = []
    for name, documentation, key in _FIGURE_GAUGES:
        family = _gauge(name, documentation, _SLA_LABELS)
        for system_id, service_id, row in rows:
            if row[key] is not None:
                family.add_metric([system_id, service_id, period], row[key])
        families.append(family)
    return families


def _incident_families(period: str, rows: Sequence[_Row]) -> list[Metric]:
    incident_open = _gauge(
        "kadou_incident_open", "Ongoing incidents (0 or 1)", ("system", "service")
    )
    breached = _gauge(
        "kadou_recovery_target_breached",
        "Incidents of the month whose recovery time exceeds the recovery target "
        "(ongoing ones included); only where a recovery target applies",
        _SLA_LABELS,
    )
    for system_id, service_id, row in rows:
        incidents = row["incidents"]
        incident_open.add_metric(
            [system_id, service_id], sum(1 for incident in incidents if incident["ongoing"])
        )
        if row["recovery_target_seconds"] is not None:
            breached.add_metric(
                [system_id, service_id, period],
                sum(1 for incident in incidents if incident["recovery_met"] is False),
            )
    return [incident_open, breached]


def _exclusion_family(state: CurrentState, rows: Sequence[_Row]) -> Metric:
    family = _gauge(
        "kadou_exclusion_active",
        'Whether an exclusion window of this kind applies now (system: service="")',
        ("system", "service", "kind"),
    )
    for system_id, service_id, _row in rows:
        for kind in ExclusionKind:
            active = any(
                window.kind == kind.value
                and window.system == system_id
                and (window.service is None or window.service == service_id)
                and (service_id or window.service is None)
                for window in state.active_exclusions
            )
            family.add_metric([system_id, service_id, kind.value], 1 if active else 0)
    return family


def _month_version_family(state: CurrentState) -> Metric:
    family = _gauge(
        "kadou_month_version",
        "Latest version of each closed month's report: 1 as closed, 2 or more once amended "
        "(SLA-SEMANTICS §9); a month not listed is open",
        ("month",),
    )
    for month, version in sorted(state.month_versions.items()):
        family.add_metric([month], version)
    return family


def _snapshot_families(state: CurrentState) -> list[Metric]:
    heartbeat = _gauge(
        "kadou_runner_heartbeat_timestamp_seconds",
        "When each probe runner (embedded or remote agent) was last seen alive, Unix time",
        ("runner", "location"),
    )
    for beat in state.heartbeats:
        heartbeat.add_metric([beat.runner_id, beat.location], beat.last_seen_at.timestamp())
    snapshot_time = _gauge(
        "kadou_sla_snapshot_timestamp_seconds",
        "The evaluation instant of the SLA figures above, Unix time",
        (),
    )
    snapshot_time.add_metric([], state.now.timestamp())
    snapshot_cost = _gauge(
        "kadou_sla_snapshot_duration_seconds",
        "How long computing the SLA figures above took",
        (),
    )
    snapshot_cost.add_metric([], state.computed_in_seconds)
    return [heartbeat, snapshot_time, snapshot_cost]


def sla_families(state: CurrentState) -> list[Metric]:
    """Every SLA family from one snapshot."""
    period = state.period.label
    rows = _rows(state)
    return [
        _state_family(state, rows),
        *_figure_families(period, rows),
        *_incident_families(period, rows),
        _exclusion_family(state, rows),
        _month_version_family(state),
        *_snapshot_families(state),
    ]


class SlaCollector(Collector):
    """A prometheus-client collector over the cached current state."""

    def __init__(self, cache: CurrentStateCache) -> None:
        self.cache = cache

    def snapshot(self) -> CurrentState:
        # Before the first background refresh: compute once; afterwards never per scrape.
        # The grid snapshot when the refresher runs: the same figures on every replica.
        return (
            self.cache.published()
            or self.cache.peek()
            or self.cache.get(max_age_seconds=float("inf"))
        )

    def collect(self) -> Iterator[Metric]:
        yield from sla_families(self.snapshot())


class _FixedSnapshot(Collector):
    def __init__(self, state: CurrentState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from sla_families(self.state)


def render_sla(state: CurrentState) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FixedSnapshot(state))
    return generate_latest(registry)


class MetricsExporter:
    """Renders ``/metrics``: the SLA text once per snapshot, the probe metrics per scrape."""

    def __init__(self, cache: CurrentStateCache) -> None:
        self.collector = SlaCollector(cache)
        self._rendered: tuple[CurrentState, bytes] | None = None
        self._lock = threading.Lock()

    def render_cached(self) -> bytes | None:
        """``render()`` when the SLA text of the current snapshot is already rendered (no
        computation, no database: fit for the event loop), else None."""
        state = self.collector.cache.published() or self.collector.cache.peek()
        rendered = self._rendered
        if state is None or rendered is None or rendered[0] is not state:
            return None
        return rendered[1] + generate_latest(PROBE_REGISTRY)

    def render(self) -> bytes:
        state = self.collector.snapshot()
        rendered = self._rendered
        if rendered is None or rendered[0] is not state:
            with self._lock:
                rendered = self._rendered
                if rendered is None or rendered[0] is not state:
                    rendered = (state, render_sla(state))
                    self._rendered = rendered
        return rendered[1] + generate_latest(PROBE_REGISTRY)
