"""From the store to the numbers: load segments and windows, call ``sla.evaluate``.

This is the single place that turns stored data into the report document, so the CLI,
the API, the pages, the exported reports and ``/metrics`` all print the same figures.
The document's field names are a public contract (``kadou report --format json`` and
``GET /api/v1/availability``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.catalog.canonical import catalog_from_canonical
from app.catalog.model import Catalog, Check, Service, System
from app.sla import periods
from app.sla.availability import UnknownPolicy, display_percent
from app.sla.breakdown import daily_figures, figures_for, state_strip
from app.sla.evaluate import Evaluation, ServiceInput, StructurePiece, SystemInput, evaluate
from app.sla.exclusions import ExclusionKind, ExclusionWindow
from app.sla.incidents import Incident
from app.sla.periods import Period, days_of
from app.sla.timeline import (
    UNBOUNDED_END,
    UNBOUNDED_START,
    LabellingPiece,
    Segment,
    merge_segments,
    segments_in_pieces,
)
from app.store.exclusions import list_exclusions, snapshot
from app.store.history import (
    catalog_version_at,
    catalog_versions,
    catalog_versions_between,
    latest_catalog_version,
)
from app.store.models import CatalogVersion, Exclusion
from app.store.segments import (
    observation_counts,
    observations_for_labelling,
    segments_between,
    timeline_parameters,
)
from app.store.types import from_ms, to_ms

DAY_MS = 86_400_000
# Incidents are searched this far around the period first, then wider while one of them
# still touches the edge of what was loaded (an incident may last longer than a month).
INITIAL_MARGIN_MS = 2 * DAY_MS
MAX_WIDENINGS = 12


@dataclass(frozen=True)
class Former:
    """A system or service that was in the catalog during the period but is not at its end.

    It is reported with its last definition (names, targets) and the instant it left the
    catalog; its figures cover the time it existed (SLA-SEMANTICS §8).
    """

    system: System
    service: Service | None  # None: the whole system left
    removed_ms: int


@dataclass(frozen=True)
class EvaluationResult:
    period: Period
    cutoff: datetime
    evaluations: list[Evaluation]
    exclusions: list[Exclusion]
    # The catalog versions in force during the period (SLA-SEMANTICS §8), oldest first.
    catalog_versions: tuple[tuple[str, datetime], ...] = ()
    # Systems and services of earlier versions of the period that the evaluated catalog no
    # longer has, in report order (each one's system first when the system left too).
    former: tuple[Former, ...] = ()

    @cached_property
    def _by_key(self) -> dict[tuple[str, str | None], Evaluation]:
        # Looked up once per service and system by every adapter: a search per lookup made
        # a report of n services cost n² (a quarter of a second at 1,000 services).
        return {(item.system_id, item.service_id): item for item in self.evaluations}

    def for_service(self, system_id: str, service_id: str | None) -> Evaluation:
        try:
            return self._by_key[(system_id, service_id)]
        except KeyError:
            raise KeyError(f"{system_id}/{service_id}") from None


def as_fraction(value: Decimal) -> Fraction:
    return Fraction(value)


def _policy(catalog: Catalog, service: Service | None) -> UnknownPolicy:
    name = service.unknown_policy if service and service.unknown_policy else catalog.unknown_policy
    return UnknownPolicy(name)


def _windows_for(
    exclusions: Sequence[Exclusion], system_id: str, service_id: str
) -> list[ExclusionWindow]:
    return [
        ExclusionWindow(to_ms(row.starts_at), to_ms(row.ends_at), ExclusionKind(row.kind))
        for row in exclusions
        if row.system == system_id and row.service in (None, service_id)
    ]


SegmentsByCheck = dict[str, dict[tuple[str, str], list[Segment]]]


def _grouped_by_check(segments: dict[tuple[str, str], list[Segment]]) -> SegmentsByCheck:
    # Grouped by check once, so building inputs stays linear in segments and services.
    by_check: SegmentsByCheck = defaultdict(dict)
    for key, series in segments.items():
        by_check[key[0]][key] = series
    return by_check


def _service_input(
    system_id: str,
    service: Service,
    catalog: Catalog,
    keys: tuple[str, ...],
    by_check: SegmentsByCheck,
    exclusions: Sequence[Exclusion],
    pieces: Sequence[StructurePiece] | None = None,
) -> ServiceInput:
    """One service's input; ``catalog`` is the one its unknown-time policy comes from."""
    return ServiceInput(
        system_id=system_id,
        service_id=service.id,
        target=as_fraction(service.target),
        core=service.core,
        quorum=service.quorum,
        hours=service.hours,
        recovery_target_ms=service.recovery_target_ms,
        policy=_policy(catalog, service),
        check_keys=keys,
        segments={k: v for key in keys for k, v in by_check[key].items()},
        exclusions=_windows_for(exclusions, system_id, service.id),
        pieces=pieces,
    )


def _system_input(system: System, catalog: Catalog, services: list[ServiceInput]) -> SystemInput:
    return SystemInput(
        system_id=system.id,
        target=as_fraction(system.target),
        recovery_target_ms=system.recovery_target_ms,
        policy=_policy(catalog, None),
        services=services,
    )


def _inputs(
    catalog: Catalog,
    systems: Sequence[System],
    segments: dict[tuple[str, str], list[Segment]],
    exclusions: Sequence[Exclusion],
) -> list[SystemInput]:
    by_check = _grouped_by_check(segments)
    return [
        _system_input(
            system,
            catalog,
            [
                _service_input(
                    system.id,
                    service,
                    catalog,
                    tuple(check.key for check in service.checks),
                    by_check,
                    exclusions,
                )
                for service in system.services
            ],
        )
        for system in systems
    ]


# --- structure that changes inside a period (SLA-SEMANTICS §8) ------------------------------

# A catalog piece: the catalog whose structure holds over [start_ms, end_ms).
CatalogPiece = tuple[int, int, Catalog]
_VERSION_CATALOGS: dict[str, Catalog] = {}


def _version_catalog(row: CatalogVersion) -> Catalog:
    # Parsed once per process: /metrics evaluates the running month on every scrape.
    catalog = _VERSION_CATALOGS.get(row.sha256)
    if catalog is None:
        if len(_VERSION_CATALOGS) >= 32:
            _VERSION_CATALOGS.clear()
        catalog = catalog_from_canonical(row.content, f"catalog version {row.sha256[:12]}")
        _VERSION_CATALOGS[row.sha256] = catalog
    return catalog


def catalog_pieces(catalog: Catalog, rows: Sequence[CatalogVersion]) -> list[CatalogPiece] | None:
    """The period cut where a catalog version took effect; None with one version (or none).

    ``rows`` are the versions in force during the period, oldest first. Each piece runs from
    a version's ``effective_from`` to the next one's; the first reaches back and the last
    forward without bound (the data window reaches past the period). The last piece is
    ``catalog``, the one the period is judged by (its end's, or the running one).
    """
    if len(rows) <= 1:
        return None
    starts = [UNBOUNDED_START, *(to_ms(row.effective_from) for row in rows[1:])]
    ends = [*starts[1:], UNBOUNDED_END]
    catalogs = [*(_version_catalog(row) for row in rows[:-1]), catalog]
    return list(zip(starts, ends, catalogs, strict=True))


def _structure(service: Service) -> tuple[Any, ...]:
    return (service.core, service.quorum, service.hours, tuple(c.key for c in service.checks))


def _service_pieces(
    placed: Sequence[tuple[int, int, Service]],
) -> tuple[StructurePiece, ...] | None:
    """A service's structure piece by piece, neighbours with the same structure merged;
    None when one structure holds at every instant (the single-version path)."""
    merged: list[tuple[int, int, Service]] = []
    for start_ms, end_ms, service in placed:
        if (
            merged
            and merged[-1][1] == start_ms
            and _structure(merged[-1][2]) == _structure(service)
        ):
            merged[-1] = (merged[-1][0], end_ms, merged[-1][2])
        else:
            merged.append((start_ms, end_ms, service))
    if len(merged) == 1 and merged[0][:2] == (UNBOUNDED_START, UNBOUNDED_END):
        return None
    return tuple(
        StructurePiece(
            start_ms=start_ms,
            end_ms=end_ms,
            core=service.core,
            quorum=service.quorum,
            hours=service.hours,
            check_keys=tuple(check.key for check in service.checks),
        )
        for start_ms, end_ms, service in merged
    )


@dataclass(frozen=True)
class _Placed:
    """A system of the period with each service's placement in the pieces."""

    system: System  # its last definition: targets are the period end's (§8)
    catalog: Catalog  # the catalog of that definition, for its unknown policy
    # service id -> (last definition, its catalog, [(piece start, piece end, definition)])
    services: dict[str, tuple[Service, Catalog, list[tuple[int, int, Service]]]]
    present: bool  # in the evaluated catalog


def _placements(
    catalog: Catalog, pieces: Sequence[CatalogPiece], system_ids: Sequence[str] | None
) -> dict[str, _Placed]:
    """Every system and service of any piece, in report order: the evaluated catalog's
    first, then those that left, the most recently removed first."""
    placed: dict[str, _Placed] = {}
    for start_ms, end_ms, piece_catalog in reversed(pieces):
        for system in piece_catalog.systems:
            if system_ids is not None and system.id not in system_ids:
                continue
            entry = placed.get(system.id)
            if entry is None:
                present = piece_catalog is catalog
                entry = placed[system.id] = _Placed(system, piece_catalog, {}, present)
            for service in system.services:
                known = entry.services.get(service.id)
                if known is None:
                    entry.services[service.id] = (service, piece_catalog, [])
                entry.services[service.id][2].insert(0, (start_ms, end_ms, service))
    return placed


def _piecewise_inputs(
    placed: dict[str, _Placed],
    segments: dict[tuple[str, str], list[Segment]],
    exclusions: Sequence[Exclusion],
) -> list[SystemInput]:
    by_check = _grouped_by_check(segments)
    return [
        _system_input(
            entry.system,
            entry.catalog,
            [
                _service_input(
                    entry.system.id,
                    service,
                    service_catalog,
                    tuple(dict.fromkeys(check.key for _, _, s in where for check in s.checks)),
                    by_check,
                    exclusions,
                    _service_pieces(where),
                )
                for service, service_catalog, where in entry.services.values()
            ],
        )
        for entry in placed.values()
    ]


def _former(catalog: Catalog, placed: dict[str, _Placed]) -> tuple[Former, ...]:
    present = {(s.id, v.id) for s in catalog.systems for v in s.services}
    former: list[Former] = []
    for entry in placed.values():
        if not entry.present:
            removed = max(end for *_, where in entry.services.values() for _, end, _ in where)
            former.append(Former(entry.system, None, removed))
        for service, _, where in entry.services.values():
            if (entry.system.id, service.id) not in present:
                former.append(Former(entry.system, service, where[-1][1]))
    return tuple(former)


def _labelling_pieces(placed: dict[str, _Placed]) -> dict[str, list[LabellingPiece]]:
    """Every check of the period with its ``confirm``/``stale_after`` piece by piece (a
    check belongs to one service, so its pieces do not overlap)."""
    pieces: dict[str, list[LabellingPiece]] = defaultdict(list)
    for entry in placed.values():
        for *_, where in entry.services.values():
            for start_ms, end_ms, service in where:
                for check in service.checks:
                    pieces[check.key].append(
                        LabellingPiece(start_ms, end_ms, check.confirm, check.stale_after_ms)
                    )
    return dict(pieces)


def _relabelled(
    pieces: dict[str, list[LabellingPiece]], latest: Catalog | None
) -> dict[str, list[LabellingPiece]]:
    """The checks of ``pieces`` whose ``confirm``/``stale_after`` changed during the
    period, or differ from the latest catalog version's (``latest``): the store labels a
    check's timeline with the values it is probed with now, so a change after the period
    relabels the period's stored segments, and the period keeps its own (§8)."""
    now = {} if latest is None else latest.checks()
    changed = {}
    for key, items in pieces.items():
        params = {(item.confirm, item.stale_after_ms) for item in items}
        check = now.get(key)
        if len(params) > 1 or (check is not None and params != {_params(check)}):
            changed[key] = items
    return changed


def _params(check: Check) -> tuple[int, int]:
    return check.confirm, check.stale_after_ms


def _single_labelling(systems: Sequence[System]) -> dict[str, list[LabellingPiece]]:
    """The checks of a period with one catalog version: one piece each, without bound."""
    return {
        check.key: [
            LabellingPiece(UNBOUNDED_START, UNBOUNDED_END, check.confirm, check.stale_after_ms)
        ]
        for system in systems
        for service in system.services
        for check in service.checks
    }


# Relabelled parts of timelines, kept while the observations under them are the same (the
# running month is evaluated on every /metrics refresh; its past parts rarely change).
RELABELLED_CACHE_SIZE = 20_000
_RELABELLED: dict[tuple[Any, ...], list[Segment]] = {}


def _labelled_piecewise(
    session: Session,
    segments: dict[tuple[str, str], list[Segment]],
    pieces: dict[str, list[LabellingPiece]],
    data_start: int,
    data_end: int,
) -> None:
    """Replace the stored segments of checks labelled in some piece of the period with
    other ``confirm``/``stale_after`` than the store's by the observations labelled piece
    by piece (§8).

    The stored timeline is labelled with one set of parameters (the latest the check was
    probed with); the parts of the period under other parameters (changed during the
    period, or after it: a closed month keeps its own) are labelled again from the
    observations. Where these were pruned, the stored segments stay.
    """
    stored_params = timeline_parameters(session, list(pieces))
    # Only the parts labelled otherwise than stored are read again, with a margin for the
    # runs of failures and the holds that cross their edges.
    relabelled = [
        piece
        for (check, _), params in stored_params.items()
        for piece in pieces.get(check, ())
        if (piece.confirm, piece.stale_after_ms) != params
    ]
    if not relabelled:
        return
    read_start = max(data_start, min(piece.start_ms for piece in relabelled) - INITIAL_MARGIN_MS)
    read_end = min(data_end, max(piece.end_ms for piece in relabelled) + INITIAL_MARGIN_MS)
    if read_start >= read_end:
        return
    counts = observation_counts(
        session, sorted({check for check, _ in stored_params}), read_start, read_end
    )
    # Kept per database: a bundle verified in this process must not meet the figures of
    # the database it came from.
    database = str(session.get_bind().engine.url)
    rebuilt: dict[tuple[str, str], list[Segment]] = {}
    missing: dict[tuple[str, str], tuple[Any, ...]] = {}
    for key, count in counts.items():
        params = stored_params.get(key)
        if params is None or count[0] == 0:
            continue  # never stored, or pruned: the stored timeline stays
        other = tuple(p for p in pieces[key[0]] if (p.confirm, p.stale_after_ms) != params)
        cache_key = (database, key, other, read_start, read_end, count)
        cached = _RELABELLED.get(cache_key)
        if cached is None:
            missing[key] = cache_key
        else:
            rebuilt[key] = cached
    if missing:
        observations, marks = observations_for_labelling(
            session, sorted({check for check, _ in missing}), read_start, read_end
        )
        if len(_RELABELLED) > RELABELLED_CACHE_SIZE:
            _RELABELLED.clear()
        for key, cache_key in missing.items():
            other = cache_key[2]
            rebuilt[key] = _RELABELLED[cache_key] = segments_in_pieces(
                [], observations.get(key, []), marks.get(key, []), other, None
            )
    for key, parts in rebuilt.items():
        params = stored_params[key]
        kept = [p for p in pieces[key[0]] if (p.confirm, p.stale_after_ms) == params]
        stored = segments_in_pieces(segments.get(key, []), [], [], kept, params)
        segments[key] = merge_segments(
            sorted([*stored, *parts], key=lambda segment: segment.start_ms)
        )


def evaluate_period(
    session: Session,
    catalog: Catalog,
    period: Period,
    *,
    now: datetime | None = None,
    system_ids: Sequence[str] | None = None,
) -> EvaluationResult:
    """Evaluate every service and system (or the named systems) over ``period``.

    ``catalog`` is the one the period is judged by: its targets, and its structure from the
    last catalog version that took effect inside the period (the whole period when none
    did). Earlier parts of the period take their structure from the versions then in
    force (SLA-SEMANTICS §8).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff_ms = to_ms(now)
    evaluated_end = period.evaluated_end_ms(cutoff_ms)
    listed_until = max(evaluated_end, period.start_ms + 1)
    version_rows = catalog_versions_between(
        session, from_ms(period.start_ms), from_ms(listed_until)
    )
    pieces = catalog_pieces(catalog, version_rows)
    systems = [s for s in catalog.systems if system_ids is None or s.id in system_ids]
    placed = None if pieces is None else _placements(catalog, pieces, system_ids)
    latest_row = latest_catalog_version(session)
    latest = None if latest_row is None else _version_catalog(latest_row)
    if placed is None:
        labelling = _relabelled(_single_labelling(systems), latest)
        check_keys = [c.key for s in systems for service in s.services for c in service.checks]
    else:
        labelling = _relabelled(_labelling_pieces(placed), latest)
        check_keys = list(
            dict.fromkeys(
                check.key
                for entry in placed.values()
                for *_, where in entry.services.values()
                for _, _, service in where
                for check in service.checks
            )
        )
    # To the period's end, not to now: windows planned later in a running period take their
    # time out of its error budget from the start (SLA-SEMANTICS §5). The report lists the
    # ones that began by the cut-off, as before.
    exclusions = list_exclusions(
        session, start=from_ms(period.start_ms), end=from_ms(period.end_ms)
    )
    listed = [row for row in exclusions if to_ms(row.starts_at) < listed_until]
    margin = INITIAL_MARGIN_MS
    for _ in range(MAX_WIDENINGS):
        data_start = period.start_ms - margin
        data_end = min(cutoff_ms, period.end_ms + margin)
        segments = segments_between(session, check_keys, data_start, data_end)
        if labelling:
            # A period judged with other confirm/stale_after than the store labelled its
            # checks with (a catalog change inside it or after it) is labelled with its own.
            _labelled_piecewise(session, segments, labelling, data_start, data_end)
        inputs = (
            _inputs(catalog, systems, segments, exclusions)
            if placed is None
            else _piecewise_inputs(placed, segments, exclusions)
        )
        evaluations = evaluate(inputs, period, cutoff_ms, data_start, data_end)
        truncated = any(
            incident.start_ms <= data_start
            or (
                incident.end_ms is not None and incident.end_ms >= data_end and data_end < cutoff_ms
            )
            for evaluation in evaluations
            for incident in evaluation.incidents
        )
        earliest = min((s[0].start_ms for s in segments.values() if s), default=data_start)
        if not truncated or (earliest > data_start and data_end >= cutoff_ms):
            break
        margin *= 4
    versions = tuple((row.sha256, row.effective_from) for row in version_rows)
    former = () if placed is None else _former(catalog, placed)
    return EvaluationResult(period, now, evaluations, listed, versions, former)


# --- the document -------------------------------------------------------------------------


def seconds(ms: int | Fraction) -> int | float:
    """Milliseconds to seconds: an integer when exact, else the nearest float."""
    if isinstance(ms, int):
        # The common case, without a Fraction (a report of thousands of incidents calls
        # this for each): int / int is correctly rounded, as float(Fraction) is.
        whole, part = divmod(ms, 1000)
        return whole if part == 0 else ms / 1000
    # A budget is a Fraction: divided on its integer parts, without building Fractions.
    # int / int is correctly rounded, so this is float(Fraction(ms) / 1000) exactly.
    numerator, denominator = ms.numerator, ms.denominator * 1000
    whole, part = divmod(numerator, denominator)
    return whole if part == 0 else numerator / denominator


def ratio(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def iso(ms: int, zone: ZoneInfo) -> str:
    return from_ms(ms).astimezone(zone).isoformat()


def target_display(target: Decimal) -> str:
    percent = (target * 100).normalize()
    return f"{percent:f}%"


def _incident_json(incident: Incident, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "start": iso(incident.start_ms, zone),
        "end": None if incident.end_ms is None else iso(incident.end_ms, zone),
        "ongoing": incident.end_ms is None,
        "duration_seconds": seconds(incident.duration_ms),
        "downtime_seconds": seconds(incident.downtime_ms),
        "recovery_target_seconds": (
            None if incident.recovery_target_ms is None else seconds(incident.recovery_target_ms)
        ),
        "recovery_met": incident.recovery_met,
    }


def strip_json(evaluation: Evaluation, zone: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {"start": iso(run.start_ms, zone), "end": iso(run.end_ms, zone), "state": run.state.value}
        for run in state_strip(evaluation)
    ]


def daily_json(evaluation: Evaluation, period: Period) -> list[dict[str, Any]]:
    return [
        {
            "date": day.label,
            "availability": None if figures is None else ratio(figures.availability),
            "availability_display": (
                None if figures is None else display_percent(figures.availability, figures.target)
            ),
            "downtime_seconds": None if figures is None else seconds(figures.downtime_ms),
        }
        for day, figures in daily_figures(evaluation, days_of(period))
    ]


def figures_json(evaluation: Evaluation, target: Decimal, zone: ZoneInfo) -> dict[str, Any]:
    figures = evaluation.figures
    return {
        "target": float(target),
        "target_display": target_display(target),
        "scheduled_seconds": seconds(figures.scheduled_ms),
        "excluded_seconds": {
            "planned": seconds(figures.planned_excluded_ms),
            "disaster": seconds(figures.disaster_excluded_ms),
        },
        "downtime_seconds": seconds(figures.downtime_ms),
        "unknown_seconds": seconds(figures.unknown_ms),
        "coverage": ratio(figures.coverage),
        "availability": ratio(figures.availability),
        "availability_display": display_percent(figures.availability, figures.target),
        "met": figures.met,
        "error_budget_seconds": (
            None if figures.error_budget_ms is None else seconds(figures.error_budget_ms)
        ),
        "error_budget_remaining_seconds": (
            None
            if figures.error_budget_remaining_ms is None
            else seconds(figures.error_budget_remaining_ms)
        ),
        "insufficient_data": figures.insufficient_data,
        "blips": len(evaluation.blips),
        "incidents": [_incident_json(incident, zone) for incident in evaluation.incidents],
    }


def period_json(period: Period) -> dict[str, Any]:
    return {
        "kind": period.kind,
        "label": period.label,
        "start": period.start().isoformat(),
        "end": period.end().isoformat(),
        "timezone": period.timezone,
    }


def exclusion_json(row: Exclusion, zone: ZoneInfo) -> dict[str, Any]:
    document = snapshot(row)
    document["start"] = row.starts_at.astimezone(zone).isoformat()
    document["end"] = row.ends_at.astimezone(zone).isoformat()
    document["created_at"] = row.created_at.astimezone(zone).isoformat()
    return document


def catalog_versions_json(result: EvaluationResult, zone: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {"sha256": sha256, "effective_from": effective_from.astimezone(zone).isoformat()}
        for sha256, effective_from in result.catalog_versions
    ]


def generated_at(period: Period, now: datetime) -> str:
    """The instant a report is stamped with, in the period's time zone.

    A closed period's report depends only on the stored data, so it is stamped with the
    period's end (the instant its figures describe), never with the wall clock: the file
    regenerated next month is byte-identical to the one exported at the close. A running
    period's report is stamped with the instant it was evaluated at (its data cut-off).
    """
    now_ms = to_ms(now)
    instant = period.end() if period.end_ms <= now_ms else now.astimezone(period.zone)
    return instant.isoformat(timespec="seconds")


def report_document(
    catalog: Catalog,
    result: EvaluationResult,
    *,
    system_id: str | None = None,
    service_id: str | None = None,
    pictures: bool = False,
) -> dict[str, Any]:
    """The report as JSON-ready data: the contract of ``kadou report --format json``.

    With ``pictures``, every service and system also carries ``strip`` (the period as runs
    of up / down / unknown / excluded / outside_hours) and ``daily`` (each day's figures),
    which the HTML and PDF reports and the pages draw.
    """
    zone = ZoneInfo(result.period.timezone)

    def figures_row(
        identity: dict[str, Any], recovery_target_ms: int | None, target: Decimal
    ) -> dict[str, Any]:
        """A service's or a system's row: who it is, then its figures (and pictures)."""
        evaluation = result.for_service(identity["system"], identity.get("service"))
        pictured = (
            {"strip": strip_json(evaluation, zone), "daily": daily_json(evaluation, result.period)}
            if pictures
            else {}
        )
        return {
            **identity,
            "recovery_target_seconds": (
                None if recovery_target_ms is None else seconds(recovery_target_ms)
            ),
            **figures_json(evaluation, target, zone),
            **pictured,
        }

    # Systems and services that left the catalog during the period are listed after the
    # others of their system (a system that left, after the others), marked "removed_at".
    former_services: dict[str, list[tuple[Service, int]]] = defaultdict(list)
    former_systems: list[tuple[System, int]] = []
    for item in result.former:
        if item.service is None:
            former_systems.append((item.system, item.removed_ms))
        else:
            former_services[item.system.id].append((item.service, item.removed_ms))
    listed: list[tuple[System, int | None]] = [(system, None) for system in catalog.systems]
    listed += former_systems

    services: list[dict[str, Any]] = []
    systems: list[dict[str, Any]] = []
    for system, system_removed_ms in listed:
        if system_id is not None and system.id != system_id:
            continue
        system_name = system.name.model_dump()
        present = [(service, None) for service in system.services if system_removed_ms is None]
        for service, removed_ms in [*present, *former_services.get(system.id, [])]:
            if service_id is None or service.id == service_id:
                identity: dict[str, Any] = {
                    "system": system.id,
                    "service": service.id,
                    "name": service.name.model_dump(),
                    "system_name": system_name,
                    "core": service.core,
                }
                if removed_ms is not None:
                    identity["removed_at"] = iso(removed_ms, zone)
                services.append(figures_row(identity, service.recovery_target_ms, service.target))
        if service_id is None:
            identity = {"system": system.id, "name": system_name}
            if system_removed_ms is not None:
                identity["removed_at"] = iso(system_removed_ms, zone)
            systems.append(figures_row(identity, system.recovery_target_ms, system.target))
    exclusions = [
        exclusion_json(row, zone)
        for row in result.exclusions
        if system_id is None
        or (row.system == system_id and (service_id is None or row.service in (None, service_id)))
    ]
    return {
        "period": period_json(result.period),
        "unknown_policy": catalog.unknown_policy,
        "generated_at": generated_at(result.period, result.cutoff),
        "data_cutoff": from_ms(result.period.evaluated_end_ms(to_ms(result.cutoff)))
        .astimezone(zone)
        .isoformat(),
        "catalog_source": catalog.source,
        "catalog_sha256": catalog.sha256,
        "catalog_versions": catalog_versions_json(result, zone),
        # A running or never-closed month has no version; a closed month's stored
        # documents carry theirs (SLA-SEMANTICS §9).
        "version": None,
        "closed_at": None,
        "services": services,
        "systems": systems,
        "exclusions": exclusions,
    }


__all__ = ["EvaluationResult", "evaluate_period", "report_document"]


# (system id, service id or None) -> (target, unknown policy) of one catalog.
Targets = dict[tuple[str, str | None], tuple[Decimal, UnknownPolicy]]


def _targets(catalog: Catalog) -> Targets:
    targets: Targets = {}
    for system in catalog.systems:
        targets[(system.id, None)] = (system.target, _policy(catalog, None))
        for service in system.services:
            targets[(system.id, service.id)] = (service.target, _policy(catalog, service))
    return targets


def _month_end_catalog(session: Session, month: Period, fallback: Catalog) -> Catalog:
    """The catalog a month ending at ``month``'s end is judged by: the version in force
    at its end, else the oldest recorded, else ``fallback`` (as
    :func:`app.history.catalog_for_period_end`, with each version parsed once)."""
    # A version that took effect at the very end instant belongs to the next month.
    row = catalog_version_at(session, from_ms(month.end_ms - 1))
    if row is None:
        versions = catalog_versions(session)
        row = versions[0] if versions else None
    return fallback if row is None else _version_catalog(row)


def _year_indicators(
    catalog: Catalog, result: EvaluationResult
) -> list[tuple[System, Service | None, int | None]]:
    """The fiscal-year sheet's rows in report order: (system, service or None for the
    system's own row, the instant it left the catalog or None), with the systems and
    services removed during the year as the monthly report lists them (§8)."""
    former_services: dict[str, list[tuple[Service, int]]] = defaultdict(list)
    former_systems: list[tuple[System, int]] = []
    for item in result.former:
        if item.service is None:
            former_systems.append((item.system, item.removed_ms))
        else:
            former_services[item.system.id].append((item.service, item.removed_ms))
    listed: list[tuple[System, int | None]] = [(system, None) for system in catalog.systems]
    listed += former_systems
    rows: list[tuple[System, Service | None, int | None]] = []
    for system, system_removed_ms in listed:
        rows.append((system, None, system_removed_ms))
        present = [(service, None) for service in system.services if system_removed_ms is None]
        for service, removed_ms in [*present, *former_services.get(system.id, [])]:
            rows.append((system, service, removed_ms))
    return rows


def fiscal_year_document(
    session: Session, catalog: Catalog, year: int, timezone: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """The fiscal-year sheet: one row per indicator, the year's figure and each month's.

    The year's availability is computed over the whole year (not an average of the monthly
    ratios), with the year-end targets (``catalog``'s). Each month's figures are the same
    evaluation cut to that month, with the targets in force at that month's end
    (SLA-SEMANTICS §8): exactly what evaluating the month alone gives, without reading the
    store twelve more times. Systems and services removed during the year are listed
    after the others of their system, with ``"removed_at"``, as in the monthly report.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    now_ms = to_ms(now)
    zone = ZoneInfo(timezone)
    year_period = periods.fiscal_year(year, timezone)
    year_result = evaluate_period(session, catalog, year_period, now=now)
    months_of_year = periods.fiscal_year_months(year, timezone)
    # Each started month's targets: the running month's are the catalog's (its end is
    # ahead), an ended month's those of the version in force at its end.
    month_targets = {
        month.label: _targets(
            catalog if month.end_ms > now_ms else _month_end_catalog(session, month, catalog)
        )
        for month in months_of_year
        if month.start_ms < now_ms
    }
    rows: list[dict[str, Any]] = []
    for system, service, removed_ms in _year_indicators(catalog, year_result):
        service_id = None if service is None else service.id
        name = system.name if service is None else service.name
        target = system.target if service is None else service.target
        evaluation = year_result.for_service(system.id, service_id)
        figures = figures_json(evaluation, target, zone)
        months = []
        for month in months_of_year:
            started = month.label in month_targets
            month_target, month_policy = (
                month_targets[month.label].get((system.id, service_id), (target, None))
                if started
                else (target, None)
            )
            month_figures = figures_for(
                evaluation,
                month.start_ms,
                month.end_ms,
                target=as_fraction(month_target),
                policy=month_policy,
            )
            months.append(
                {
                    "label": month.label,
                    # The month's own target (§8); the year's row has the year-end one.
                    "target": float(month_target),
                    "target_display": target_display(month_target),
                    "availability": ratio(month_figures.availability) if started else None,
                    "availability_display": (
                        display_percent(month_figures.availability, month_figures.target)
                        if started
                        else display_percent(None, month_figures.target)
                    ),
                    "met": month_figures.met if started else None,
                    "downtime_seconds": seconds(month_figures.downtime_ms) if started else None,
                    "insufficient_data": month_figures.insufficient_data if started else None,
                    "coverage": ratio(month_figures.coverage) if started else None,
                    # What a year total is summed from (app.months: closed months).
                    "scheduled_seconds": (seconds(month_figures.scheduled_ms) if started else None),
                    "unknown_seconds": seconds(month_figures.unknown_ms) if started else None,
                    "excluded_seconds": (
                        {
                            "planned": seconds(month_figures.planned_excluded_ms),
                            "disaster": seconds(month_figures.disaster_excluded_ms),
                        }
                        if started
                        else None
                    ),
                    # A closed month's row is its latest version (app.months, §9).
                    "version": None,
                    "closed_at": None,
                }
            )
        row: dict[str, Any] = {
            "system": system.id,
            "service": service_id,
            "name": name.model_dump(),
            "system_name": system.name.model_dump(),
        }
        if removed_ms is not None:
            row["removed_at"] = iso(removed_ms, zone)
        rows.append(
            {
                **row,
                **{key: figures[key] for key in FISCAL_YEAR_FIELDS},
                "incidents": len(figures["incidents"]),
                "months": months,
            }
        )
    return {
        "period": {
            **period_json(year_period),
            "fiscal_year": year,
            "label_ja": periods.reiwa_fiscal_year_label(year),
        },
        "unknown_policy": catalog.unknown_policy,
        "generated_at": generated_at(year_period, now),
        "data_cutoff": from_ms(year_period.evaluated_end_ms(now_ms)).astimezone(zone).isoformat(),
        "catalog_source": catalog.source,
        "catalog_sha256": catalog.sha256,
        "catalog_versions": catalog_versions_json(year_result, zone),
        "rows": rows,
        "exclusions": [exclusion_json(row, zone) for row in year_result.exclusions],
    }


FISCAL_YEAR_FIELDS = (
    "target",
    "target_display",
    "availability",
    "availability_display",
    "met",
    "scheduled_seconds",
    "excluded_seconds",
    "downtime_seconds",
    "unknown_seconds",
    "coverage",
    "insufficient_data",
    "error_budget_seconds",
    "error_budget_remaining_seconds",
)
