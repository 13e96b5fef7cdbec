"""What the pages show, built from the engine's results; no figure is computed here.

Every availability, budget and duration on a page is a field of ``report_document`` (the
document ``GET /api/v1/availability`` returns) or of the ``Evaluation`` it was built from.
This module only *arranges* them: incidents grouped by system, the strip's legend, the red /
amber / green summary, and the per-day figures of the public status page (the core's
``figures_for`` over one evaluation clipped to each day, which is what evaluating each day
separately would give, at a ninetieth of the cost).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from markupsafe import Markup

from app.catalog.model import Catalog
from app.current import CurrentStateCache, DerivedCache
from app.evaluation import evaluate_period, report_document
from app.reports import charts
from app.reports.document import STRIP_STATES
from app.runtime import Runtime
from app.sla import periods
from app.sla.availability import display_percent
from app.sla.breakdown import figures_for
from app.sla.evaluate import Evaluation
from app.store.models import AuditEntry, Exclusion
from app.store.types import to_ms

T = TypeVar("T")

# Below this share of the error budget left, a system is amber.
BUDGET_LOW_RATIO = 0.25
STATUS_DAYS = 90


# --- the audit log, readable --------------------------------------------------------------


@dataclass(frozen=True)
class AuditChange:
    field: str  # the field's name in the entry, for the label
    before: Any
    after: Any


# Fields that only restate the entry's own header (who, when, which id).
_AUDIT_HEADER_FIELDS = frozenset({"id", "created_at"})


def audit_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[AuditChange]:
    """The entry as field: before → after. A change lists the fields it changed; a creation
    or a removal lists the whole state it made or ended."""
    old, new = before or {}, after or {}
    names = [*new, *(name for name in old if name not in new)]
    changes = []
    for name in names:
        if name in _AUDIT_HEADER_FIELDS:
            continue
        if old and new and old.get(name) == new.get(name):
            continue
        changes.append(AuditChange(name, old.get(name), new.get(name)))
    return changes


@dataclass(frozen=True)
class AuditItem:
    entry: AuditEntry
    changes: list[AuditChange]


# --- the month strip's legend --------------------------------------------------------------


@dataclass(frozen=True)
class LegendItem:
    state: str
    swatch: Markup


def strip_legend(with_future: bool) -> list[LegendItem]:
    """A swatch per strip state in the strip's own colour and pattern; the words are put
    beside it as page text, at the page's size (an SVG legend scales down to unreadable on a
    phone)."""
    items = []
    for state in (*STRIP_STATES, *(("future",) if with_future else ())):
        style = charts.STATE_STYLES.get(state)
        if style is None:  # the days to come: empty, as the strip draws them
            shape = (
                '<rect x="0.5" y="0.5" width="17" height="13" fill="#fff" stroke="#9e9e9e" '
                'stroke-dasharray="3,2"/>'
            )
        else:
            overlay = (
                f'<defs><pattern id="key-{state}" width="8" height="8" '
                f'patternUnits="userSpaceOnUse">{style.overlay}</pattern></defs>'
                f'<rect width="18" height="14" fill="url(#key-{state})"/>'
                if style.overlay
                else ""
            )
            shape = (
                f'<rect width="18" height="14" fill="{style.colour}"/>{overlay}'
                '<rect x="0.25" y="0.25" width="17.5" height="13.5" fill="none" stroke="#333" '
                'stroke-width="0.5"/>'
            )
        items.append(
            LegendItem(
                state,
                Markup(
                    '<svg xmlns="http://www.w3.org/2000/svg" class="swatch" width="18" '
                    f'height="14" viewBox="0 0 18 14" aria-hidden="true">{shape}</svg>'
                ),
            )
        )
    return items


# --- red / amber / green ----------------------------------------------------------------


@dataclass(frozen=True)
class Rag:
    level: str  # "red" | "amber" | "green"
    reasons: tuple[str, ...]  # i18n keys, shown as text beside the colour


def rag_for(figures: dict[str, Any], state_now: str) -> Rag:
    """Red when down now, the target is missed or the budget is spent; amber when the state
    is unknown, the data insufficient or under a quarter of the budget is left."""
    red: list[str] = []
    amber: list[str] = []
    if state_now == "down":
        red.append("rag_why_down")
    if figures.get("met") is False:
        red.append("rag_why_missed")
    budget = figures.get("error_budget_seconds")
    remaining = figures.get("error_budget_remaining_seconds")
    if budget is not None and remaining is not None:
        if remaining < 0:
            red.append("rag_why_budget_spent")
        elif budget > 0 and remaining / budget < BUDGET_LOW_RATIO:
            amber.append("rag_why_budget_low")
    if state_now == "unknown":
        amber.append("rag_why_unknown")
    if figures.get("insufficient_data"):
        amber.append("rag_why_insufficient")
    if red:
        return Rag("red", tuple(red))
    if amber:
        return Rag("amber", tuple(amber))
    return Rag("green", ())


def budget_share(figures: dict[str, Any]) -> float | None:
    """The remaining error budget as a share of the budget, for the bar (0 when spent)."""
    budget = figures.get("error_budget_seconds")
    remaining = figures.get("error_budget_remaining_seconds")
    if budget is None or remaining is None or budget <= 0:
        return None
    return float(min(max(remaining / budget, 0.0), 1.0))


# --- incidents, grouped as an operator knows them -------------------------------------------


@dataclass
class AffectedService:
    service: str
    name: dict[str, str]
    incident: dict[str, Any]


@dataclass
class IncidentGroup:
    """One outage as an operator knows it: a system incident with the services that were
    down inside it, or a service's incident that did not take its system down (a non-core
    service, say), shown as its own row under its system."""

    system: str
    system_name: dict[str, str]
    incident: dict[str, Any]  # the system's incident, or the lone service's
    service: str | None = None  # set for a service-only incident
    service_name: dict[str, str] | None = None
    affected: list[AffectedService] = field(default_factory=list)

    def matches(self, *, ongoing: bool, breached: bool) -> bool:
        incidents = [self.incident, *(item.incident for item in self.affected)]
        return any(
            (not ongoing or incident["ongoing"])
            and (not breached or incident["recovery_met"] is False)
            for incident in incidents
        )


def _overlaps(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two incidents (ISO instants, ``end`` None while ongoing) share any time."""
    start_a, start_b = (
        datetime.fromisoformat(first["start"]),
        datetime.fromisoformat(second["start"]),
    )
    end_a = None if first["end"] is None else datetime.fromisoformat(first["end"])
    end_b = None if second["end"] is None else datetime.fromisoformat(second["end"])
    return (end_b is None or start_a < end_b) and (end_a is None or start_b < end_a)


def group_incidents(
    system: str,
    system_name: dict[str, str],
    system_incidents: Sequence[dict[str, Any]],
    services: Sequence[tuple[str, dict[str, str], Sequence[dict[str, Any]]]],
) -> list[IncidentGroup]:
    """A system's incidents with each service incident placed inside the system incident it
    overlaps, or on its own when it overlaps none; in start order."""
    groups = [IncidentGroup(system, system_name, incident) for incident in system_incidents]
    alone: list[IncidentGroup] = []
    for service, name, incidents in services:
        for incident in incidents:
            container = next(
                (group for group in groups if _overlaps(group.incident, incident)), None
            )
            if container is not None:
                container.affected.append(AffectedService(service, name, incident))
            else:
                alone.append(IncidentGroup(system, system_name, incident, service, name))
    listed = groups + alone
    listed.sort(key=lambda group: (group.incident["start"], group.service or ""))
    return listed


def incident_groups(
    document: dict[str, Any], *, ongoing: bool = False, breached: bool = False
) -> list[IncidentGroup]:
    """Every incident of a report document as operators read them (``group_incidents`` per
    system), keeping the groups with an ongoing and/or breached incident when asked, in
    start order. The incidents page lists these; each overview card its system's open ones.
    """
    services: dict[str, list[tuple[str, dict[str, str], Sequence[dict[str, Any]]]]] = {}
    for row in document["services"]:
        services.setdefault(row["system"], []).append(
            (row["service"], row["name"], row["incidents"])
        )
    listed = [
        group
        for row in document["systems"]
        for group in group_incidents(
            row["system"], row["name"], row["incidents"], services.get(row["system"], [])
        )
        if group.matches(ongoing=ongoing, breached=breached)
    ]
    listed.sort(key=lambda group: (group.incident["start"], group.system, group.service or ""))
    return listed


# --- the overview ---------------------------------------------------------------------------


@dataclass
class ServiceCard:
    system: str
    service: str
    name: dict[str, str]
    state: str
    figures: dict[str, Any]
    rag: Rag


@dataclass
class SystemCard:
    system: str
    name: dict[str, str]
    state: str
    figures: dict[str, Any]
    rag: Rag
    budget_share: float | None
    services: list[ServiceCard]
    open_incidents: list[IncidentGroup] = field(default_factory=list)
    active_exclusions: list[Exclusion] = field(default_factory=list)
    previous: dict[str, Any] | None = None  # the previous month's figures


def rows_by_key(document: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    """A report document's rows by (system, service or None): looked up once per card, not
    searched for (a linear search per card is quadratic in the catalog's size)."""
    rows: dict[tuple[str, str | None], dict[str, Any]] = {
        (row["system"], None): row for row in document["systems"]
    }
    rows.update({(row["system"], row["service"]): row for row in document["services"]})
    return rows


def overview_cards(
    catalog: Catalog,
    document: dict[str, Any],
    states: dict[tuple[str, str | None], str],
    active_exclusions: Sequence[Exclusion],
    *,
    previous: dict[str, Any] | None = None,
    live: bool = True,
) -> list[SystemCard]:
    """A card per system from one report document (the month shown) and the states now.

    ``previous`` is the previous month's document, shown beside each system's figure;
    ``live`` is false for a month other than the current one, which has no open incidents
    to show.
    """
    rows = rows_by_key(document)
    previous_rows = rows_by_key(previous) if previous is not None else {}
    exclusions_by_system: dict[str, list[Exclusion]] = {}
    for row in active_exclusions:
        exclusions_by_system.setdefault(row.system, []).append(row)
    # The incidents page's listing, open groups only; a past month has none open.
    open_incidents: dict[str, list[IncidentGroup]] = {}
    for group in incident_groups(document, ongoing=True) if live else []:
        open_incidents.setdefault(group.system, []).append(group)
    cards = []
    for system in catalog.systems:
        figures = rows[(system.id, None)]
        state = states.get((system.id, None), "unknown")
        services = []
        for service in system.services:
            service_figures = rows[(system.id, service.id)]
            service_state = states.get((system.id, service.id), "unknown")
            services.append(
                ServiceCard(
                    system.id,
                    service.id,
                    service.name.model_dump(),
                    service_state,
                    service_figures,
                    rag_for(service_figures, service_state if live else "up"),
                )
            )
        rag = rag_for(figures, state if live else "up")
        if rag.level == "green" and any(card.rag.level != "green" for card in services):
            # A non-core service in trouble does not move the system's figures, but the
            # people watching the system must see it.
            rag = Rag("amber", tuple(sorted({r for card in services for r in card.rag.reasons})))
        cards.append(
            SystemCard(
                system=system.id,
                name=system.name.model_dump(),
                state=state,
                figures=figures,
                rag=rag,
                budget_share=budget_share(figures),
                services=services,
                open_incidents=open_incidents.get(system.id, []),
                active_exclusions=exclusions_by_system.get(system.id, []) if live else [],
                previous=previous_rows.get((system.id, None)),
            )
        )
    return cards


class MonthDocuments:
    """Report documents of whole months, kept ``max_age_seconds``: the overview shows the
    previous month beside the current one on every refresh, and a closed month changes only
    by a late write (a retroactive window, a backfill), which the pages' writes invalidate."""

    def __init__(
        self, source: CurrentStateCache, max_age_seconds: float, max_months: int = 24
    ) -> None:
        self.source = source
        self.max_age_seconds = max_age_seconds
        self.max_months = max_months
        self._caches: dict[str, DerivedCache[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, label: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            cache = self._caches.get(label)
            if cache is None:
                if len(self._caches) >= self.max_months:
                    self._caches.pop(next(iter(self._caches)))
                cache = self._caches[label] = DerivedCache(self.source, self.max_age_seconds)
        return cache.get(compute)

    def invalidate(self) -> None:
        with self._lock:
            self._caches.clear()


# --- the public status page -----------------------------------------------------------------


@dataclass(frozen=True)
class StatusDay:
    date: date
    availability: float | None
    availability_display: str | None
    met: bool | None


@dataclass(frozen=True)
class StatusRow:
    """One system's line on the status page. Frozen: the rows are cached and shared by
    concurrent requests, so a request must make its own copy to change one."""

    system: str
    name: dict[str, str]
    state: str
    days: tuple[StatusDay, ...]
    availability_display: str | None
    target_display: str
    # Coverage below 99 % over the days shown (SLA-SEMANTICS §5), as every other page flags it.
    insufficient_data: bool

    @property
    def days_with_data(self) -> int:
        return sum(1 for day in self.days if day.availability is not None)


def day_figures(
    evaluation: Evaluation, day_bounds: Sequence[tuple[date, int, int]]
) -> list[StatusDay]:
    """Each day's §5 figures from one evaluation over many days."""
    days = []
    for day, start_ms, end_ms in day_bounds:
        figures = figures_for(evaluation, start_ms, end_ms)
        days.append(
            StatusDay(
                day,
                None if figures.availability is None else float(figures.availability),
                display_percent(figures.availability, figures.target),
                figures.met,
            )
        )
    return days


def status_rows(
    runtime: Runtime, now: datetime, states: dict[tuple[str, str | None], str]
) -> list[StatusRow]:
    """The last ``STATUS_DAYS`` local days (today to now) per system, from one evaluation."""
    zone = ZoneInfo(runtime.timezone)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=STATUS_DAYS - 1)
    bounds = []
    for offset in range(STATUS_DAYS):
        day = first + timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        following = day + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=zone)
        bounds.append((day, to_ms(start), to_ms(end)))
    period = periods.custom_range(bounds[0][1], bounds[-1][2], runtime.timezone)
    with runtime.sessions() as session:
        result = evaluate_period(session, runtime.catalog, period, now=now)
    document = report_document(runtime.catalog, result)
    rows = []
    # A system removed during the 90 days is in the document after the current ones (with
    # "removed_at"); the status page shows the systems that exist now.
    current = [row for row in document["systems"] if "removed_at" not in row]
    for system, figures in zip(runtime.catalog.systems, current, strict=True):
        evaluation = result.for_service(system.id, None)
        days = tuple(day_figures(evaluation, bounds))
        rows.append(
            StatusRow(
                system=system.id,
                name=system.name.model_dump(),
                state=states.get((system.id, None), "unknown"),
                days=days,
                availability_display=figures["availability_display"],
                target_display=figures["target_display"],
                insufficient_data=_insufficient_since_data(evaluation, bounds, days),
            )
        )
    return rows


def _insufficient_since_data(
    evaluation: Evaluation, bounds: Sequence[tuple[date, int, int]], days: Sequence[StatusDay]
) -> bool:
    """The "insufficient data" flag of the figure the page shows, which speaks of the days
    with data: taken from the first of them to now, so that a system monitored for 20 of
    the 90 days is not flagged for the 70 days before it, while a gap after it still is."""
    first = next((i for i, day in enumerate(days) if day.availability is not None), None)
    if first is None:
        return False
    return figures_for(evaluation, bounds[first][1], bounds[-1][2]).insufficient_data
