"""Prometheus recording and alerting rules generated from the catalog (``kadou rules``).

One source of truth, as Sloth and Pyrra do it: each service's target in the catalog becomes
its multi-window, multi-burn-rate alerts (Google SRE workbook, chapter 5, over a 30-day
error budget), so Grafana, Alertmanager and the monthly report never disagree on a target.

The error ratio behind every burn rate is built from ``kadou_service_state`` and not from
``kadou_probe_success``, because the state is what the SLA counts (SLA-SEMANTICS §3): a
service is down only after ``confirm`` consecutive failures (a one-off failed probe is a
blip and stays up), across locations with the quorum rule, and time without data is
unknown and left out of availability (unknown_policy=exclude). The recorded base series
``system_service:kadou_service_down:known`` is 1 while a service is down, 0 while it is up,
and absent while its state is unknown or an exclusion window (planned or disaster) covers
it. Its average over a window is therefore down time / known scheduled time, the same
fraction the monthly availability subtracts from 1 (SLA-SEMANTICS §5).

Known approximations, all on the side of alerting a little late rather than wrongly: the
state turns down only once the failure is confirmed (the engine backdates it to the first
failure; Prometheus cannot), and weekly operating hours are not modelled here (the default
catalog is 24x7 everywhere).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

from app.catalog.durations import format_duration
from app.catalog.model import Catalog, Service, System
from app.catalog.summary import format_target

DEFAULT_RUNBOOK_URL = "deploy/RUNBOOK.md"
# The budget period of the SRE workbook's burn-rate table. The monthly report's budget is
# the calendar month's (the whole month's from the 1st, SLA-SEMANTICS §5); 30 days keeps
# the alert thresholds the same in every month.
BUDGET_PERIOD_MS = 30 * 86_400_000
# A location whose runners have all been silent this long is not probing (the runner sends
# a heartbeat every 10 s, remote agents with every batch).
HEARTBEAT_STALE_AFTER_MS = 120_000
# Prometheus scrapes Kadou every 15 s (deploy/prometheus/prometheus.yml); a counter needs a
# few scrapes in a window before "no increase" means "no observation".
SCRAPE_INTERVAL_MS = 15_000
# How long the writer's backlog must stay non-empty before storing is said to fall behind:
# a database restart or a short outage drains well within it.
WRITER_BEHIND_FOR = "10m"
# A slow answer now and then is noise; one that lasts is worth a ticket.
WARNING_FOR = "15m"
# The lead time of the recovery alert: an open incident older than 75 % of its target.
RECOVERY_WARNING_FRACTION = Decimal("0.75")

BASE_RECORD = "system_service:kadou_service_down:known"


@dataclass(frozen=True)
class BurnRateWindow:
    """One row of the SRE workbook's table: both windows must burn faster than ``factor``."""

    long_ms: int
    short_ms: int
    factor: Decimal
    severity: str
    alert: str


# Google SRE workbook, "Alerting on SLOs", multiwindow multi-burn-rate alerts, 30-day budget.
BURN_RATE_WINDOWS = (
    BurnRateWindow(3_600_000, 300_000, Decimal("14.4"), "page", "KadouErrorBudgetBurnFast"),
    BurnRateWindow(21_600_000, 1_800_000, Decimal(6), "page", "KadouErrorBudgetBurnFast"),
    BurnRateWindow(86_400_000, 7_200_000, Decimal(3), "ticket", "KadouErrorBudgetBurnSlow"),
    BurnRateWindow(259_200_000, 21_600_000, Decimal(1), "ticket", "KadouErrorBudgetBurnSlow"),
)
# Every window a burn-rate alert reads, shortest first; each gets a recording rule.
NOMINAL_WINDOWS_MS = tuple(
    sorted({w.long_ms for w in BURN_RATE_WINDOWS} | {w.short_ms for w in BURN_RATE_WINDOWS})
)

# Every alert the generator can write, for the runbook test and the docs.
ALERT_NAMES = (
    "KadouErrorBudgetBurnFast",
    "KadouErrorBudgetBurnSlow",
    "KadouErrorBudgetExhausted",
    "KadouRecoveryTargetAtRisk",
    "KadouRecoveryTargetBreached",
    "KadouRunnerHeartbeatStale",
    "KadouCheckNoObservations",
    "KadouMetricsAbsent",
    "KadouWriterBehind",
    "KadouWriterDropping",
    "KadouAgentDeadLetter",
    "KadouTlsCertExpiringSoon",
    "KadouCheckDegraded",
)


def window_record(nominal_ms: int) -> str:
    """The recorded error ratio over a window, named after its nominal (unscaled) length.

    The name keeps the nominal length even when ``window_scale`` shortens the window, so the
    Grafana dashboard and the alert rules refer to the same names at every scale.
    """
    return f"system_service:kadou_service_error:ratio_rate{format_duration(nominal_ms)}"


def scaled_ms(nominal_ms: int, window_scale: float) -> int:
    """``nominal_ms`` times ``window_scale``, in whole seconds, at least one second.

    Whole seconds because a range shorter than the scrape interval holds no sample at all,
    and rounding (not ceiling) because ``1/720`` is not exact in binary: 1 h must become 5 s,
    not 6 s.
    """
    return max(1, round(nominal_ms * window_scale / 1000)) * 1000


def _decimal_text(value: Decimal) -> str:
    # Exact and without an exponent: 14.4 x (1 - 0.9999) is "0.00144", never "1.44E-3".
    return f"{value.normalize():f}"


def _percent_text(ratio: Decimal) -> str:
    return f"{(ratio * 100).normalize():f}%"


def _selector(system_id: str, service_id: str | None) -> str:
    if service_id is None:
        return f'system="{system_id}", service=""'
    return f'system="{system_id}", service="{service_id}"'


def _rule_labels(severity: str, system_id: str, service_id: str | None) -> dict[str, str]:
    labels = {"severity": severity, "system": system_id}
    # A system-wide alert has no service label: Prometheus drops labels with empty values.
    if service_id is not None:
        labels["service"] = service_id
    return labels


class _RuleWriter:
    """Builds the rule groups of one catalog at one window scale."""

    def __init__(self, catalog: Catalog, window_scale: float, runbook_url: str) -> None:
        if not 0 < window_scale <= 1:
            raise ValueError(
                f"window_scale must be in (0, 1]: 1 for production, e.g. 1/720 to make the "
                f"1h window 5s in a test; got {window_scale}"
            )
        self.catalog = catalog
        self.window_scale = window_scale
        self.runbook_url = runbook_url

    def window(self, nominal_ms: int) -> str:
        return format_duration(scaled_ms(nominal_ms, self.window_scale))

    def runbook(self, alert: str) -> str:
        # GitHub's anchor for a "## KadouErrorBudgetBurnFast" heading.
        return f"{self.runbook_url}#{alert.lower()}"

    def groups(self) -> list[dict[str, Any]]:
        return [
            # The burn-rate alerts share the group of the ratios they read: rules in one
            # group run in order, so an alert sees this evaluation's ratios, not the last.
            {"name": "kadou-slo", "rules": [*self.sli_rules(), *self.burn_rate_alerts()]},
            {"name": "kadou-slo-budget", "rules": self.budget_alerts()},
            {"name": "kadou-recovery", "rules": self.recovery_alerts()},
            {"name": "kadou-monitor", "rules": self.monitor_alerts()},
            {"name": "kadou-writer", "rules": self.writer_alerts()},
            {"name": "kadou-warnings", "rules": self.warning_alerts()},
        ]

    def sli_rules(self) -> list[dict[str, Any]]:
        base = {
            "record": BASE_RECORD,
            # max by (system, service): several Kadou replicas export the same state.
            # `unless` drops the samples the SLA does not count: unknown state and any
            # exclusion window on the service or (service="") on its whole system.
            "expr": (
                'max by (system, service) (kadou_service_state{state="down", service!=""})\n'
                "unless on (system, service)\n"
                '  (max by (system, service) (kadou_service_state{state="unknown", service!=""}) > 0)\n'
                "unless on (system, service)\n"
                '  (max by (system, service) (kadou_exclusion_active{service!=""}) > 0)\n'
                "unless on (system)\n"
                '  (max by (system) (kadou_exclusion_active{service=""}) > 0)\n'
            ),
        }
        windows = [
            {
                "record": window_record(nominal_ms),
                "expr": f"avg_over_time({BASE_RECORD}[{self.window(nominal_ms)}])",
            }
            for nominal_ms in NOMINAL_WINDOWS_MS
        ]
        return [base, *windows]

    def burn_rate_alerts(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for system in self.catalog.systems:
            for service in system.services:
                rules.extend(self._burn_rate_alert(system, service, w) for w in BURN_RATE_WINDOWS)
        return rules

    def _burn_rate_alert(
        self, system: System, service: Service, burn: BurnRateWindow
    ) -> dict[str, Any]:
        budget_ratio = 1 - service.target
        threshold = _decimal_text(burn.factor * budget_ratio)
        selector = _selector(system.id, service.id)
        long_window, short_window = self.window(burn.long_ms), self.window(burn.short_ms)
        budget_ms = int(budget_ratio * BUDGET_PERIOD_MS)
        exhausted_in = format_duration(int(BUDGET_PERIOD_MS / burn.factor))
        return {
            "alert": burn.alert,
            "expr": (
                f"{window_record(burn.long_ms)}{{{selector}}} > {threshold}\n"
                f"and\n"
                f"{window_record(burn.short_ms)}{{{selector}}} > {threshold}\n"
            ),
            "labels": {
                **_rule_labels(burn.severity, system.id, service.id),
                "long_window": long_window,
                "short_window": short_window,
            },
            "annotations": {
                "summary": (
                    f"{system.id}/{service.id} is burning its error budget over "
                    f"{_decimal_text(burn.factor)}x the sustainable rate "
                    f"({long_window} and {short_window})"
                ),
                "description": (
                    f"{service.name.en} ({system.id}/{service.id}) was down "
                    f"{{{{ $value | humanizePercentage }}}} of its known scheduled time over "
                    f"the last {long_window}, and above {_percent_text(burn.factor * budget_ratio)} "
                    f"over the last {short_window} too. The threshold is "
                    f"{_decimal_text(burn.factor)} x the error budget of "
                    f"{_percent_text(budget_ratio)} (target {format_target(service.target)}); "
                    f"at that rate a 30-day month's budget of {format_duration(budget_ms)}, "
                    f"all of it there from the 1st, is gone in {exhausted_in}."
                ),
                "runbook_url": self.runbook(burn.alert),
            },
        }

    def budget_alerts(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for system in self.catalog.systems:
            rules.append(self._budget_alert(system.id, None, system.name.en, system.target))
            rules.extend(
                self._budget_alert(system.id, service.id, service.name.en, service.target)
                for service in system.services
            )
        return rules

    def _budget_alert(
        self, system_id: str, service_id: str | None, name: str, target: Decimal
    ) -> dict[str, Any]:
        scope = system_id if service_id is None else f"{system_id}/{service_id}"
        alert = "KadouErrorBudgetExhausted"
        return {
            "alert": alert,
            # Negated so that $value is the overrun, a positive number of seconds.
            "expr": (
                "-(max by (system, service, period) "
                f"(kadou_sla_error_budget_remaining_seconds{{{_selector(system_id, service_id)}}}))"
                " > 0\n"
            ),
            "labels": _rule_labels("ticket", system_id, service_id),
            "annotations": {
                "summary": f"{scope} has used up its error budget for {{{{ $labels.period }}}}",
                "description": (
                    f"{name} ({scope}): downtime in {{{{ $labels.period }}}} so far exceeds "
                    f"the whole month's error budget ({_percent_text(1 - target)} of the "
                    f"month's scheduled time less the time without data, target "
                    f"{format_target(target)}) by {{{{ $value | humanizeDuration }}}}. The "
                    f"month misses its target even if nothing else goes down, unless an "
                    f"exclusion window is added."
                ),
                "runbook_url": self.runbook(alert),
            },
        }

    def recovery_alerts(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for system in self.catalog.systems:
            for service in system.services:
                if service.recovery_target_ms is not None:
                    rules.extend(
                        self._recovery_alerts(
                            system, service.id, service.name.en, service.recovery_target_ms
                        )
                    )
            # A system incident can outlast each of its services' (one after another), so
            # it needs its own rule; with one service the two incidents are the same.
            if system.recovery_target_ms is not None and len(system.services) > 1:
                rules.extend(
                    self._recovery_alerts(system, None, system.name.en, system.recovery_target_ms)
                )
        return rules

    def _recovery_alerts(
        self, system: System, service_id: str | None, name: str, recovery_target_ms: int
    ) -> list[dict[str, Any]]:
        scope = system.id if service_id is None else f"{system.id}/{service_id}"
        selector = _selector(system.id, service_id)
        target_text = format_duration(recovery_target_ms)
        warning_ms = int(recovery_target_ms * RECOVERY_WARNING_FRACTION)
        warning_for = self.window(warning_ms)
        left_ms = recovery_target_ms - warning_ms
        return [
            {
                "alert": "KadouRecoveryTargetAtRisk",
                # `for` measures how long the incident has been open; Prometheus keeps the
                # pending state across its own restarts (ALERTS_FOR_STATE).
                "expr": f"max by (system, service) (kadou_incident_open{{{selector}}}) > 0\n",
                "for": warning_for,
                "labels": _rule_labels("page", system.id, service_id),
                "annotations": {
                    "summary": (
                        f"{scope} has been down for {warning_for}: recovery target "
                        f"{target_text} at risk"
                    ),
                    "description": (
                        f"An incident of {name} ({scope}) has been open for more than "
                        f"{warning_for} ({_percent_text(RECOVERY_WARNING_FRACTION)} "
                        f"of its recovery target of {target_text}). The target is breached "
                        f"if it is not recovered within about {format_duration(left_ms)} more."
                    ),
                    "runbook_url": self.runbook("KadouRecoveryTargetAtRisk"),
                },
            },
            {
                "alert": "KadouRecoveryTargetBreached",
                # Kadou's own judgement (backdated start, SLA-SEMANTICS §6), kept only while
                # the incident is still open: a closed breach belongs to the monthly report.
                "expr": (
                    f"max by (system, service) (kadou_recovery_target_breached{{{selector}}}) > 0\n"
                    f"and on (system, service)\n"
                    f"max by (system, service) (kadou_incident_open{{{selector}}}) > 0\n"
                ),
                "labels": _rule_labels("page", system.id, service_id),
                "annotations": {
                    "summary": f"{scope} breached its recovery target of {target_text}",
                    "description": (
                        f"An incident of {name} ({scope}) is still open and has lasted longer "
                        f"than the recovery target of {target_text} per failure."
                    ),
                    "runbook_url": self.runbook("KadouRecoveryTargetBreached"),
                },
            },
        ]

    def monitor_alerts(self) -> list[dict[str, Any]]:
        stale_s = HEARTBEAT_STALE_AFTER_MS // 1000
        rules: list[dict[str, Any]] = [
            {
                "alert": "KadouMetricsAbsent",
                # Without Kadou's metrics every other rule here is silent, not green.
                "expr": "absent(kadou_service_state)\n",
                "for": "2m",
                "labels": {"severity": "page", "system": "kadou", "service": "exporter"},
                "annotations": {
                    "summary": "Prometheus has no metrics from Kadou",
                    "description": (
                        "No kadou_service_state series for 2m: Kadou is down, or Prometheus "
                        "cannot scrape its /metrics. No availability alert can fire meanwhile."
                    ),
                    "runbook_url": self.runbook("KadouMetricsAbsent"),
                },
            },
            {
                "alert": "KadouRunnerHeartbeatStale",
                # By location, not by runner: a restarted pod is a new runner id and leaves
                # its old heartbeat behind; what matters is that someone probes from there.
                "expr": (
                    "min by (location) (time() - kadou_runner_heartbeat_timestamp_seconds)"
                    f" > {stale_s}\n"
                ),
                "labels": {"severity": "page", "system": "kadou", "service": "probe-runner"},
                "annotations": {
                    "summary": "No probe runner alive at location {{ $labels.location }}",
                    "description": (
                        "The last heartbeat of any probe runner at {{ $labels.location }} is "
                        "{{ $value | humanizeDuration }} old (stale after "
                        f"{format_duration(HEARTBEAT_STALE_AFTER_MS)}). Nothing is probed "
                        "from there: its services' time becomes unknown, which no "
                        "availability alert sees."
                    ),
                    "runbook_url": self.runbook("KadouRunnerHeartbeatStale"),
                },
            },
        ]
        for system in self.catalog.systems:
            for service in system.services:
                for check in service.checks:
                    rules.append(
                        self._no_observation_alert(
                            system.id, service.id, check.id, check.interval_ms, check.stale_after_ms
                        )
                    )
        return rules

    def writer_alerts(self) -> list[dict[str, Any]]:
        """The probe runner's writer: storing keeps up, nothing is dropped or refused.

        Not per service: the writer serves every check of its process (``writer`` label:
        ``embedded`` in ``kadou serve``, ``agent`` in ``kadou probe``).
        """
        labels = {"system": "kadou", "service": "probe-writer"}
        return [
            {
                "alert": "KadouWriterBehind",
                # Never empty for 10 minutes: storing is slower than probing (or failing).
                "expr": f"min_over_time(kadou_writer_backlog[{WRITER_BEHIND_FOR}]) > 0\n",
                "labels": {"severity": "ticket", **labels},
                "annotations": {
                    "summary": "Storing falls behind probing ({{ $labels.writer }} writer)",
                    "description": (
                        "{{ $value }} probe results of the {{ $labels.writer }} writer on "
                        "{{ $labels.instance }} have waited to be stored for more than "
                        f"{WRITER_BEHIND_FOR}: they are safe in its spool, but the timeline "
                        "lags and the spool fills (then results are dropped)."
                    ),
                    "runbook_url": self.runbook("KadouWriterBehind"),
                },
            },
            {
                "alert": "KadouWriterDropping",
                "expr": "increase(kadou_writer_dropped_total[5m]) > 0\n",
                "labels": {"severity": "page", **labels},
                "annotations": {
                    "summary": "Probe results are being lost ({{ $labels.writer }} writer)",
                    "description": (
                        "The {{ $labels.writer }} writer on {{ $labels.instance }} dropped "
                        "{{ $value }} probe results in 5m: its spool is full or cannot be "
                        "written. That time will be unknown in the reports."
                    ),
                    "runbook_url": self.runbook("KadouWriterDropping"),
                },
            },
            {
                "alert": "KadouAgentDeadLetter",
                "expr": "increase(kadou_agent_dead_letter_total[1h]) > 0\n",
                "labels": {"severity": "ticket", **labels},
                "annotations": {
                    "summary": "The server refused probe results ({{ $labels.writer }} writer)",
                    "description": (
                        "{{ $value }} probe results of the {{ $labels.writer }} writer on "
                        "{{ $labels.instance }} were refused for good in the last hour and set "
                        "aside in its spool's rejected/ directory, with the server's reason."
                    ),
                    "runbook_url": self.runbook("KadouAgentDeadLetter"),
                },
            },
        ]

    def warning_alerts(self) -> list[dict[str, Any]]:
        """Degraded but answering: warnings, which never count as downtime (no budget burns).

        The probe decides what is a warning (``kadou_probe_warning``), with each check's own
        threshold from the catalog (``min_days_left``, ``slow_after``); a condition the
        catalog declares a failure makes the probe fail instead, and the availability
        alerts see it.
        """
        probe_labels = "system, service, check, location"
        # The series' own system and service, spelled out as every Kadou alert carries them.
        labels = {
            "severity": "ticket",
            "system": "{{ $labels.system }}",
            "service": "{{ $labels.service }}",
        }
        return [
            {
                "alert": "KadouTlsCertExpiringSoon",
                "expr": (
                    f"kadou_tls_cert_seconds_left / 86400 and on ({probe_labels}) "
                    "(kadou_probe_warning == 1)\n"
                ),
                "labels": labels,
                "annotations": {
                    "summary": (
                        "The certificate of {{ $labels.system }}/{{ $labels.service }} expires soon"
                    ),
                    "description": (
                        "Check {{ $labels.system }}/{{ $labels.service }}/{{ $labels.check }} "
                        'sees a certificate that expires in {{ $value | printf "%.1f" }} days '
                        "(from {{ $labels.location }}), within its min_days_left. The service "
                        "still answers: this is a warning, not downtime. Renew it."
                    ),
                    "runbook_url": self.runbook("KadouTlsCertExpiringSoon"),
                },
            },
            {
                "alert": "KadouCheckDegraded",
                # Every other warning (a slow answer); the TLS one has its own alert above.
                "expr": (
                    f"(kadou_probe_warning == 1) unless on ({probe_labels}) "
                    "kadou_tls_cert_seconds_left\n"
                ),
                "for": WARNING_FOR,
                "labels": labels,
                "annotations": {
                    "summary": ("{{ $labels.system }}/{{ $labels.service }} answers, but degraded"),
                    "description": (
                        "Check {{ $labels.system }}/{{ $labels.service }}/{{ $labels.check }} "
                        "has succeeded with a warning (slower than its slow_after) from "
                        f"{{{{ $labels.location }}}} for {WARNING_FOR}. A warning, not downtime."
                    ),
                    "runbook_url": self.runbook("KadouCheckDegraded"),
                },
            },
        ]

    def _no_observation_alert(
        self, system_id: str, service_id: str, check_id: str, interval_ms: int, stale_ms: int
    ) -> dict[str, Any]:
        # The check's own staleness (SLA-SEMANTICS §3), but long enough to span a few
        # scrapes. Not scaled: probe intervals do not shrink with window_scale.
        window = format_duration(max(stale_ms, 4 * SCRAPE_INTERVAL_MS))
        selector = f'system="{system_id}", service="{service_id}", check="{check_id}"'
        key = f"{system_id}/{service_id}/{check_id}"
        alert = "KadouCheckNoObservations"
        return {
            "alert": alert,
            "expr": (
                "sum by (system, service, check, location) "
                f"(increase(kadou_probe_observations_total{{{selector}}}[{window}])) == 0\n"
                f"or\n"
                f"absent(kadou_probe_observations_total{{{selector}}})\n"
            ),
            "for": window,
            "labels": _rule_labels("ticket", system_id, service_id),
            "annotations": {
                "summary": f"No observations of check {key}",
                "description": (
                    f"Check {key} (one probe every {format_duration(interval_ms)}) has "
                    f"recorded no observation{{{{ with $labels.location }}}} from "
                    f"{{{{ . }}}}{{{{ end }}}} for more than {window}: its time is unknown "
                    f"and left out of availability."
                ),
                "runbook_url": self.runbook(alert),
            },
        }


def generate_rules(
    catalog: Catalog, *, window_scale: float = 1.0, runbook_url: str = DEFAULT_RUNBOOK_URL
) -> dict[str, Any]:
    """The Prometheus rule file (``{"groups": [...]}``) for ``catalog``.

    ``window_scale`` multiplies every burn-rate window and the recovery-target lead time,
    for tests that cannot wait an hour (1/720 makes the 1h window 5s); the recorded series
    keep their nominal names. ``runbook_url`` is where ``deploy/RUNBOOK.md`` is served;
    each alert links to its own section there.
    """
    return {"groups": _RuleWriter(catalog, window_scale, runbook_url).groups()}


class _RulesDumper(yaml.SafeDumper):
    """Multi-line PromQL as YAML literal blocks, so the file reads like hand-written rules."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_RulesDumper.add_representer(str, _represent_text)


def render_rules_yaml(
    catalog: Catalog, *, window_scale: float = 1.0, runbook_url: str = DEFAULT_RUNBOOK_URL
) -> str:
    """The rule file as YAML text; the same catalog and options give the same bytes."""
    rules = generate_rules(catalog, window_scale=window_scale, runbook_url=runbook_url)
    scale_note = "" if window_scale == 1 else f" --window-scale {window_scale!r}"
    header = (
        f"# Generated by `kadou rules{scale_note}` from the catalog {catalog.source or '(code)'}.\n"
        "# Do not edit: change the catalog and run `kadou rules` again. What each rule means\n"
        "# and why the error ratio comes from kadou_service_state: app/rules.py and\n"
        "# deploy/RUNBOOK.md.\n"
    )
    body = io.StringIO()
    yaml.dump(rules, body, Dumper=_RulesDumper, sort_keys=False, allow_unicode=True, width=1000)
    return header + body.getvalue()
