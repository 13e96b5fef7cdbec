"""Fault state of the simulated services: faults injected by hand and faults on a schedule.

The schedule (a ``Scenario``) is not replayed by a task that sleeps and flips flags: the
fault in force is *computed* from the clock whenever it is asked for. That keeps a scenario
exact (no drift, no missed step when the loop is busy) and lets tests drive it with an
injected clock instead of waiting. A fault set by hand overrides the scenario for its
service until it expires or is cleared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml

FaultKind = Literal["ok", "down", "error", "timeout", "slow", "flap"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

DEFAULT_SERVICES: tuple[str, ...] = (
    "card-management/main",
    "jpki/main",
    "info-network/main",
    "mynaportal/records",
    "mynaportal/self-info",
    "mynaportal/notices",
    "account-registration/main",
)

# What "slow" means when the scenario or the control call does not say.
DEFAULT_SLOW_LATENCY_MS = 2_000

Clock = Callable[[], datetime]
_T = TypeVar("_T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the event and the field."""


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str | int | float) -> int:
    """``"30s"``, ``"5m"``, ``"1h30m"``, ``"250ms"`` or a number of seconds -> milliseconds."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        return round(text * 1000)
    compact = text.strip().replace(" ", "")
    if not compact or _DURATION_PART.sub("", compact):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h30m)")
    return round(
        sum(float(n) * _DURATION_UNIT_MS[unit] for n, unit in _DURATION_PART.findall(compact))
    )


@dataclass(frozen=True, slots=True)
class ActiveFault:
    fault: FaultKind
    source: Literal["manual", "scenario"]
    since: datetime
    until: datetime | None = None
    latency_ms: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "source": self.source,
            "since": self.since.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    service: str
    fault: FaultKind
    # Exactly one of the two: an offset from the simulator's start, or an absolute instant.
    offset_ms: int | None = None
    at: datetime | None = None
    # None: until the end of the cycle when the scenario repeats, otherwise for good.
    for_ms: int | None = None
    latency_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    events: tuple[ScenarioEvent, ...]
    # Relative events happen again every ``repeat_ms``; absolute ones happen once.
    repeat_ms: int | None = None

    def fault_at(
        self, service: str, now: datetime, started_at: datetime, not_before: datetime
    ) -> ActiveFault | None:
        """The scenario's fault for ``service`` at ``now``: the latest started occurrence
        that still runs and did not start before ``not_before`` (a "clear all")."""
        best: ActiveFault | None = None
        for event in self.events:
            if event.service != service:
                continue
            occurrence = self._occurrence(event, now, started_at)
            if occurrence is None or occurrence.since < not_before:
                continue
            if best is None or occurrence.since >= best.since:
                best = occurrence
        return best

    def _occurrence(
        self, event: ScenarioEvent, now: datetime, started_at: datetime
    ) -> ActiveFault | None:
        if event.at is not None:
            start = event.at
            end = start + timedelta(milliseconds=event.for_ms) if event.for_ms else None
        else:
            offset_ms = event.offset_ms or 0
            elapsed_ms = (now - started_at) // timedelta(milliseconds=1)
            if elapsed_ms < offset_ms:
                return None
            cycle = (elapsed_ms - offset_ms) // self.repeat_ms if self.repeat_ms else 0
            start = started_at + timedelta(milliseconds=offset_ms + cycle * (self.repeat_ms or 0))
            length_ms = event.for_ms or self.repeat_ms
            end = start + timedelta(milliseconds=length_ms) if length_ms else None
        if not (start <= now and (end is None or now < end)):
            return None
        return ActiveFault(event.fault, "scenario", start, end, event.latency_ms)


def parse_scenario(document: Any, source: str = "scenario") -> Scenario:
    """Build a scenario from its YAML/JSON document: a list of events, or
    ``{repeat: 30m, events: [...]}``. Each event: ``at`` (``+30s`` or an ISO time with a
    zone), ``service`` (``system/service``), ``fault``, optional ``for`` and ``latency_ms``."""
    repeat_ms: int | None = None
    if isinstance(document, Mapping):
        unknown = set(document) - {"repeat", "events"}
        if unknown:
            raise ScenarioError(f"{source}: unknown key(s) {sorted(unknown)}; use repeat, events")
        if document.get("repeat") is not None:
            repeat_ms = _field(source, "repeat", lambda: parse_duration_ms(document["repeat"]))
            if repeat_ms <= 0:
                raise ScenarioError(f"{source}: repeat must be a positive duration")
        raw_events = document.get("events")
    else:
        raw_events = document
    if not isinstance(raw_events, Sequence) or isinstance(raw_events, str):
        raise ScenarioError(f"{source}: expected a list of events")
    events = tuple(
        _parse_event(raw, f"{source}: event {index + 1}", repeat_ms)
        for index, raw in enumerate(raw_events)
    )
    return Scenario(events=events, repeat_ms=repeat_ms)


def load_scenario(path: str | Path) -> Scenario:
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML or JSON: {error}") from error
    return parse_scenario(document, str(path))


def _field(where: str, name: str, parse: Callable[[], _T]) -> _T:
    try:
        return parse()
    except (ValueError, TypeError, KeyError) as error:
        raise ScenarioError(f"{where}: field {name!r}: {error}") from error


def _parse_event(raw: Any, where: str, repeat_ms: int | None) -> ScenarioEvent:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: expected a mapping with at, service, fault")
    unknown = set(raw) - {"at", "service", "fault", "for", "latency_ms"}
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)}")
    for name in ("at", "service", "fault"):
        if name not in raw:
            raise ScenarioError(f"{where}: field {name!r} is required")
    service = str(raw["service"])
    if service.count("/") != 1:
        raise ScenarioError(f"{where}: field 'service': write it as system/service")
    fault = str(raw["fault"])
    if fault not in FAULT_KINDS:
        raise ScenarioError(f"{where}: field 'fault': {fault!r} is not one of {FAULT_KINDS}")
    for_ms = None
    if raw.get("for") is not None:
        for_ms = _field(where, "for", lambda: parse_duration_ms(raw["for"]))
    latency_ms = None
    if raw.get("latency_ms") is not None:
        latency_ms = _field(where, "latency_ms", lambda: int(raw["latency_ms"]))
    at_value = raw["at"]
    offset_ms: int | None = None
    at: datetime | None = None
    if isinstance(at_value, str) and at_value.strip().startswith("+"):
        offset_ms = _field(where, "at", lambda: parse_duration_ms(at_value.strip()[1:]))
    else:
        # YAML turns an unquoted ISO timestamp into a datetime already.
        at = _field(
            where,
            "at",
            lambda: (
                at_value
                if isinstance(at_value, datetime)
                else datetime.fromisoformat(str(at_value))
            ),
        )
        if at.tzinfo is None:
            raise ScenarioError(
                f"{where}: field 'at': give a time zone, e.g. 2026-10-01T09:00:00+09:00,"
                " or an offset such as +30s"
            )
    if repeat_ms is not None and offset_ms is not None:
        if offset_ms >= repeat_ms:
            raise ScenarioError(f"{where}: field 'at' must fall within the repeat period")
        if for_ms is not None and for_ms > repeat_ms:
            raise ScenarioError(f"{where}: field 'for' must not exceed the repeat period")
    return ScenarioEvent(
        service=service,
        fault=fault,  # type: ignore[arg-type]  # checked against FAULT_KINDS above
        offset_ms=offset_ms,
        at=at,
        for_ms=for_ms,
        latency_ms=latency_ms,
    )


class FaultTable:
    """The fault in force for each simulated service, and the flap alternation."""

    def __init__(
        self,
        services: Sequence[str],
        scenario: Scenario | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.services = tuple(services)
        self.scenario = scenario
        self.clock = clock
        self.started_at = clock()
        self._manual: dict[str, ActiveFault] = {}
        # A "clear all" also ends scenario faults already in progress (not later ones).
        self._scenario_not_before = datetime.min.replace(tzinfo=UTC)
        # Per service: the fault occurrence the count belongs to, and requests seen in it.
        self._flap_counts: dict[str, tuple[tuple[str, datetime], int]] = {}

    def set(
        self,
        service: str,
        fault: FaultKind,
        *,
        latency_ms: int | None = None,
        for_ms: int | None = None,
    ) -> ActiveFault:
        if service not in self.services:
            raise KeyError(service)
        now = self.clock()
        until = now + timedelta(milliseconds=for_ms) if for_ms is not None else None
        active = ActiveFault(fault, "manual", now, until, latency_ms)
        self._manual[service] = active
        return active

    def clear(self, service: str) -> None:
        self._manual.pop(service, None)

    def clear_all(self) -> None:
        self._manual.clear()
        self._scenario_not_before = self.clock() + timedelta(microseconds=1)

    def active(self, service: str) -> ActiveFault | None:
        now = self.clock()
        manual = self._manual.get(service)
        if manual is not None:
            if manual.until is None or now < manual.until:
                return manual
            del self._manual[service]
        if self.scenario is None:
            return None
        return self.scenario.fault_at(service, now, self.started_at, self._scenario_not_before)

    def kind(self, service: str) -> FaultKind:
        active = self.active(service)
        return active.fault if active is not None else "ok"

    def flap_fails(self, service: str, active: ActiveFault) -> bool:
        """Whether this request to a flapping service fails: the 1st, 3rd, 5th ... do."""
        occurrence = (active.source, active.since)
        previous = self._flap_counts.get(service)
        count = previous[1] if previous is not None and previous[0] == occurrence else 0
        self._flap_counts[service] = (occurrence, count + 1)
        return count % 2 == 0

    def snapshot(self) -> dict[str, Any]:
        faults = {}
        for service in self.services:
            active = self.active(service)
            if active is not None:
                faults[service] = active.as_json()
        return {
            "started_at": self.started_at.isoformat(),
            "now": self.clock().isoformat(),
            "faults": faults,
        }
