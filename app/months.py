"""Closed months and amendments (SLA-SEMANTICS §9).

Closing a month freezes its report document together with the digests of its inputs: the
catalog version(s) of the month, the exclusion windows that touch it and the check
segments of the month. Running the closing again compares the digests: nothing changed,
nothing is written; something changed (a late observation, a window added, changed or
removed, a timeline rebuild), and the month gets its next version, with every figure that
moved (before → after) and the audit entries that caused it. Versions are never changed
or removed, so each one stays retrievable.

The month is judged by the catalog version in force at its end (§8): a target changed, a
check removed or a service renamed afterwards leaves the closed figures as they were.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.canonical import canonical_json, canonical_sha256
from app.catalog.model import Catalog
from app.errors import InvalidInput, NotFound
from app.evaluation import EvaluationResult, evaluate_period, ratio, report_document, seconds
from app.history import catalog_for_period_end, period_checks, versions_json
from app.sla import periods
from app.sla.availability import INSUFFICIENT_COVERAGE, NO_VALUE, UnknownPolicy, display_percent
from app.sla.breakdown import figures_for
from app.store import audit, history
from app.store.db import transaction
from app.store.exclusions import list_exclusions, snapshot
from app.store.models import AuditEntry, Exclusion, MonthVersion
from app.store.types import from_ms

# The figures an amendment compares, per service and system, in the report document.
FIGURES = (
    "target",
    "availability",
    "availability_display",
    "met",
    "scheduled_seconds",
    "excluded_seconds.planned",
    "excluded_seconds.disaster",
    "downtime_seconds",
    "unknown_seconds",
    "coverage",
    "error_budget_seconds",
    "error_budget_remaining_seconds",
    "insufficient_data",
    "blips",
    "incidents",
)
# Audit entities whose entries can change a month's figures ("observations": late data
# stored inside a closed month, app.store.late).
INPUT_ENTITIES = ("exclusion", "timeline", "observations")


@dataclass(frozen=True)
class MonthInputs:
    catalog: Catalog
    catalog_digests: list[str]
    catalog_versions: list[dict[str, Any]]
    exclusions_digest: str
    segments_digest: str

    def changed_from(self, row: MonthVersion) -> list[str]:
        changed = []
        if self.catalog_digests != row.catalog_digests:
            changed.append("catalog")
        if self.exclusions_digest != row.exclusions_digest:
            changed.append("exclusions")
        if self.segments_digest != row.segments_digest:
            changed.append("segments")
        return changed


def parse_month_label(text: str, timezone: str) -> periods.Period:
    try:
        return periods.parse_month(text, timezone)
    except ValueError as error:
        raise InvalidInput(str(error), field="month") from None


def exclusions_digest(rows: list[Exclusion]) -> str:
    documents = sorted((snapshot(row) for row in rows), key=lambda item: item["id"])
    text = json.dumps(documents, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def month_inputs(session: Session, fallback: Catalog, period: periods.Period) -> MonthInputs:
    start, end = from_ms(period.start_ms), from_ms(period.end_ms)
    catalog, used = catalog_for_period_end(session, end, fallback)
    rows = history.catalog_versions_between(session, start, end)
    if not rows and used is not None:
        # Recorded only after the month: the oldest version known is the one it is judged by.
        rows = [used]
    digests = [row.sha256 for row in rows] or [canonical_sha256(canonical_json(fallback))]
    keys = sorted(period_checks(catalog, rows))
    return MonthInputs(
        catalog=catalog,
        catalog_digests=digests,
        catalog_versions=versions_json(rows, period.zone),
        exclusions_digest=exclusions_digest(list_exclusions(session, start=start, end=end)),
        segments_digest=history.segments_digest(session, keys, start, end),
    )


def _flat(document: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for item in document.get("services", []):
        yield from _figures(f"{item['system']}/{item['service']}", item)
    for item in document.get("systems", []):
        yield from _figures(str(item["system"]), item)


def _figures(indicator: str, item: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for name in FIGURES:
        value: Any = item
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if name == "incidents":
            value = len(item.get("incidents", []))
        yield indicator, name, value


def figure_diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure that differs between two report documents, before → after."""
    old = {(indicator, name): value for indicator, name, value in _flat(before)}
    new = {(indicator, name): value for indicator, name, value in _flat(after)}
    diff = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            diff.append(
                {
                    "indicator": key[0],
                    "figure": key[1],
                    "before": old.get(key),
                    "after": new.get(key),
                }
            )
    return diff


def _overlaps(window: dict[str, Any] | None, start: datetime, end: datetime) -> bool:
    if not window or "start" not in window or "end" not in window:
        return False
    return (
        datetime.fromisoformat(window["start"]) < end
        and datetime.fromisoformat(window["end"]) > start
    )


def _causes(entries: list[AuditEntry], period: periods.Period) -> list[int]:
    start, end = from_ms(period.start_ms), from_ms(period.end_ms)
    return [
        entry.id
        for entry in entries
        if entry.entity in INPUT_ENTITIES
        and (
            entry.entity == "timeline"
            or (entry.entity == "observations" and _late_in(entry, period.label) is not None)
            or _overlaps(entry.before, start, end)
            or _overlaps(entry.after, start, end)
        )
    ]


def _late_in(entry: AuditEntry, month: str) -> dict[str, Any] | None:
    """What a late-observations entry stored inside ``month``: count, checks, locations."""
    # The prune's entries share the entity ("observations", action "prune"): not a cause.
    if entry.entity != "observations" or entry.action != "late":
        return None
    months = entry.after.get("months") if isinstance(entry.after, dict) else None
    found = months.get(month) if isinstance(months, dict) else None
    return found if isinstance(found, dict) else None


def versioned_document(row: MonthVersion) -> dict[str, Any]:
    return dict(row.document)


def close_month(
    sessions: sessionmaker[Session],
    fallback: Catalog,
    period: periods.Period,
    *,
    actor: str,
    now: datetime | None = None,
) -> MonthVersion | None:
    """Close ``period``, or amend it when its inputs changed; None when nothing changed.

    ``fallback`` is the catalog to judge the month by when no catalog version was ever
    recorded. Several processes may run this at once: the (month, version) key lets one of
    them write each version, and the others return None.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if period.end_ms > int(now.timestamp() * 1000):
        raise InvalidInput(
            f"month {period.label} has not ended yet; a month is closed after its last day",
            field="month",
            ja=f"{period.label} はまだ終わっていません。月末を過ぎてから締めてください",
        )
    with transaction(sessions) as session:
        # Read before the inputs: an entry made meanwhile is then a candidate reason of the
        # next version rather than lost between the two reads.
        watermark = history.audit_watermark(session)
        inputs = month_inputs(session, fallback, period)
        latest = history.latest_month_version(session, period.label)
        changed = ["closing"] if latest is None else inputs.changed_from(latest)
        if not changed:
            return None
        result = evaluate_period(session, inputs.catalog, period, now=now)
        document = report_document(inputs.catalog, result, pictures=True)
        version = 1 if latest is None else latest.version + 1
        document["catalog_versions"] = inputs.catalog_versions
        document["version"] = version
        document["closed_at"] = now.astimezone(period.zone).isoformat()
        causes = (
            []
            if latest is None
            else _causes(history.audit_entries_after(session, latest.audit_watermark), period)
        )
        diff = [] if latest is None else figure_diff(latest.document, document)
        if changed == ["segments"] and not causes and not diff:
            # The stored timeline was labelled again for a confirm/stale_after changed
            # after the month, which is evaluated with its own (§8): nothing of the month
            # changed, so there is no new version.
            return None
        row = MonthVersion(
            month=period.label,
            version=version,
            closed_at=now,
            closed_by=actor,
            document=document,
            catalog_digests=inputs.catalog_digests,
            exclusions_digest=inputs.exclusions_digest,
            segments_digest=inputs.segments_digest,
            audit_watermark=watermark,
            audit_entry_ids=causes,
            changed_inputs=changed,
            diff=diff,
        )
        if not history.add_month_version(session, row):
            # Another process made this version first; its audit entry says so.
            return None
        audit.record(
            session,
            actor=actor,
            action="close" if latest is None else "amend",
            entity="month",
            entity_id=period.label,
            before=None if latest is None else {"version": latest.version},
            after={"version": version, "changed_inputs": changed, "audit_entry_ids": causes},
            reason=None,
            at=now,
        )
        return row


def amend_closed_months(
    sessions: sessionmaker[Session],
    fallback: Catalog,
    timezone: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> list[MonthVersion]:
    """Run the closing again for every closed month; returns the amendments made."""
    with sessions() as session:
        labels = sorted({row.month for row in history.month_versions(session)})
    made = []
    for label in labels:
        row = close_month(
            sessions, fallback, periods.parse_month(label, timezone), actor=actor, now=now
        )
        if row is not None:
            made.append(row)
    return made


def closed_document(session: Session, month: str) -> dict[str, Any] | None:
    """The latest version's report document of a closed month; None while it is open."""
    row = history.latest_month_version(session, month)
    return None if row is None else versioned_document(row)


def version_summary(row: MonthVersion, zone_name: str, reasons: list[AuditEntry]) -> dict[str, Any]:
    zone = periods.month(2000, 1, zone_name).zone
    return {
        "month": row.month,
        "version": row.version,
        "closed_at": row.closed_at.astimezone(zone).isoformat(),
        "closed_by": row.closed_by,
        "amended": row.version > 1,
        "changed_inputs": row.changed_inputs,
        "catalog_versions": row.document.get("catalog_versions", []),
        "reasons": [
            {
                "audit_entry_id": entry.id,
                "at": entry.at.astimezone(zone).isoformat(),
                "actor": entry.actor,
                "action": entry.action,
                "entity": entry.entity,
                "entity_id": entry.entity_id,
                "reason": entry.reason,
                # Enough of the window to say in words what changed the month.
                "window": _window_words(entry),
                # Late observations of this month: how many, which checks and locations.
                "late_observations": _late_in(entry, row.month),
            }
            for entry in reasons
        ],
        "diff": row.diff,
    }


def _window_words(entry: AuditEntry) -> dict[str, Any] | None:
    if entry.entity != "exclusion":
        return None
    window = entry.after or entry.before or {}
    return {"kind": window.get("kind"), "retroactive": bool(window.get("retroactive"))}


def latest_version_summary(session: Session, month: str, timezone: str) -> dict[str, Any] | None:
    """The latest version of a closed month, with its reasons; None while it is open."""
    row = history.latest_month_version(session, month)
    if row is None:
        return None
    return version_summary(row, timezone, history.audit_entries_by_id(session, row.audit_entry_ids))


def month_list(session: Session, timezone: str) -> list[dict[str, Any]]:
    """Every closed month with its latest version, newest month first."""
    latest: dict[str, MonthVersion] = {}
    for row in history.month_versions(session):
        latest[row.month] = row
    return [
        version_summary(row, timezone, history.audit_entries_by_id(session, row.audit_entry_ids))
        for _, row in sorted(latest.items(), reverse=True)
    ]


def month_version_detail(
    session: Session, month: str, version: int, timezone: str
) -> dict[str, Any]:
    parse_month_label(month, timezone)
    row = history.month_version(session, month, version)
    if row is None:
        raise NotFound(
            f"month {month} has no version {version}; GET /api/v1/months lists the versions",
            field="version",
        )
    reasons = history.audit_entries_by_id(session, row.audit_entry_ids)
    return {**version_summary(row, timezone, reasons), "report": row.document}


# --- the fiscal year from closed months (§8, §9) -------------------------------------------

# A fiscal-year month row's figures, taken from the month's latest version when it is closed.
_MONTH_ROW_FIGURES = (
    # The month's own target, as its version has it (§8).
    "target",
    "target_display",
    "availability",
    "availability_display",
    "met",
    "downtime_seconds",
    "insufficient_data",
    "coverage",
    "scheduled_seconds",
    "unknown_seconds",
    "excluded_seconds",
)


def _ms(value: Any) -> Fraction:
    """Seconds as written in a document (int, or a float of whole ms) back to exact ms."""
    return Fraction(Decimal(repr(value or 0))) * 1000


def _indicator(document: dict[str, Any], system: str, service: str | None) -> dict[str, Any] | None:
    if service is None:
        return next((s for s in document.get("systems", []) if s["system"] == system), None)
    return next(
        (
            s
            for s in document.get("services", [])
            if s["system"] == system and s["service"] == service
        ),
        None,
    )


def _frozen_month(frozen: dict[str, Any] | None, document: dict[str, Any]) -> dict[str, Any]:
    version = {"version": document.get("version"), "closed_at": document.get("closed_at")}
    if frozen is None:
        # The indicator did not exist in that month (added later in the year): nothing of
        # it was scheduled then.
        return {
            "availability": None,
            "availability_display": NO_VALUE,
            "met": None,
            "downtime_seconds": 0,
            "insufficient_data": True,
            "coverage": None,
            "scheduled_seconds": 0,
            "unknown_seconds": 0,
            "excluded_seconds": {"planned": 0, "disaster": 0},
            **version,
        }
    return {**{name: frozen.get(name) for name in _MONTH_ROW_FIGURES}, **version}


def _year_totals(row: dict[str, Any], delta: dict[str, Fraction], policy: str) -> dict[str, Any]:
    """The year's figures with each closed month's part replaced by its latest version.

    Durations add up over months: the year's scheduled, excluded, down and unknown time
    are the year's own, minus what the open evaluation gives for each closed month, plus
    what that month's latest version says. The ratios, ``met`` and the error budget then
    follow from those sums by §5, with the year-end target.
    """
    target = Fraction(Decimal(repr(row["target"])))
    excluded = row["excluded_seconds"]
    s_ms = _ms(row["scheduled_seconds"]) + delta["scheduled"]
    u_ms = _ms(row["unknown_seconds"]) + delta["unknown"]
    d_ms = _ms(row["downtime_seconds"]) + delta["downtime"]
    planned_ms = _ms(excluded["planned"]) + delta["planned"]
    disaster_ms = _ms(excluded["disaster"]) + delta["disaster"]
    known_ms = s_ms - u_ms
    unknown_policy = UnknownPolicy(policy)
    availability: Fraction | None = None
    budget: Fraction | None = None
    remaining: Fraction | None = None
    if known_ms > 0:
        if unknown_policy is UnknownPolicy.EXCLUDE:
            availability = (known_ms - d_ms) / known_ms
            base_change = delta["scheduled"] - delta["unknown"]
        elif unknown_policy is UnknownPolicy.UP:
            availability = (s_ms - d_ms) / s_ms
            base_change = delta["scheduled"]
        else:
            availability = (known_ms - d_ms) / s_ms
            base_change = delta["scheduled"]
        # The budget's base is the year's (the whole year's scheduled time while it runs),
        # changed by what the closed months' versions changed.
        live_budget = row.get("error_budget_seconds")
        if live_budget is not None:
            budget = _ms(live_budget) + (1 - target) * base_change
        else:
            base = known_ms if unknown_policy is UnknownPolicy.EXCLUDE else s_ms
            budget = (1 - target) * base
        remaining = budget - (d_ms + u_ms if unknown_policy is UnknownPolicy.DOWN else d_ms)
    coverage = known_ms / s_ms if s_ms > 0 else None
    return {
        "scheduled_seconds": seconds(s_ms),
        "excluded_seconds": {"planned": seconds(planned_ms), "disaster": seconds(disaster_ms)},
        "downtime_seconds": seconds(d_ms),
        "unknown_seconds": seconds(u_ms),
        "coverage": ratio(coverage),
        "availability": ratio(availability),
        "availability_display": display_percent(availability, target),
        "met": None if availability is None else availability >= target,
        "error_budget_seconds": None if budget is None else seconds(budget),
        "error_budget_remaining_seconds": None if remaining is None else seconds(remaining),
        "insufficient_data": coverage is None or coverage < INSUFFICIENT_COVERAGE,
    }


def _closed_of_year(session: Session, labels: set[str]) -> dict[str, dict[str, Any]]:
    """The latest version's document of each closed month among ``labels``."""
    closed_labels = sorted(labels & set(history.latest_version_numbers(session)))
    found = {label: closed_document(session, label) for label in closed_labels}
    return {label: document for label, document in found.items() if document is not None}


def _closed_months_json(closed: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"month": label, "version": document.get("version"), "closed_at": document.get("closed_at")}
        for label, document in sorted(closed.items())
    ]


def year_with_closed_months(
    session: Session, result: EvaluationResult, document: dict[str, Any]
) -> dict[str, Any]:
    """A fiscal year's report document (``kadou report --fiscal-year``, ``GET
    /availability?fiscal_year=``) with its figures made of the closed months' latest
    versions, as the fiscal-year sheet's year column (:func:`_year_totals`); it lists them
    in ``"closed_months"``. Other periods are returned as they are."""
    period = result.period
    if period.kind != "fiscal_year":
        return document
    months = periods.fiscal_year_months(period.start().year, period.timezone)
    closed = _closed_of_year(session, {month.label for month in months})
    document = {**document, "closed_months": _closed_months_json(closed)}
    if not closed:
        return document
    document = copy.deepcopy(document)
    for entry in [*document.get("services", []), *document.get("systems", [])]:
        evaluation = result.for_service(entry["system"], entry.get("service"))
        delta = dict.fromkeys(
            ("scheduled", "unknown", "downtime", "planned", "disaster"), Fraction(0)
        )
        for month in months:
            version = closed.get(month.label)
            if version is None:
                continue
            live = figures_for(evaluation, month.start_ms, month.end_ms)
            new = _frozen_month(_indicator(version, entry["system"], entry.get("service")), version)
            delta["scheduled"] += _ms(new["scheduled_seconds"]) - live.scheduled_ms
            delta["unknown"] += _ms(new["unknown_seconds"]) - live.unknown_ms
            delta["downtime"] += _ms(new["downtime_seconds"]) - live.downtime_ms
            excluded = new["excluded_seconds"] or {}
            delta["planned"] += _ms(excluded.get("planned")) - live.planned_excluded_ms
            delta["disaster"] += _ms(excluded.get("disaster")) - live.disaster_excluded_ms
        entry.update(_year_totals(entry, delta, document["unknown_policy"]))
    return document


def fiscal_year_with_closed_months(session: Session, document: dict[str, Any]) -> dict[str, Any]:
    """The fiscal-year sheet with each closed month's row taken from its latest version.

    A closed month's row shows the figures of its latest version (its own targets, its
    catalog), never a recomputation, and says which version it is; open months stay as
    evaluated. The year's figures are made consistent with the rows (:func:`_year_totals`).
    With no month of the year closed, the sheet is returned as it is.
    """
    rows = document.get("rows", [])
    if not rows:
        return document
    closed = _closed_of_year(session, {month["label"] for month in rows[0]["months"]})
    document = {**document, "closed_months": _closed_months_json(closed)}
    if not closed:
        return document
    document = copy.deepcopy(document)
    for row in document["rows"]:
        delta = dict.fromkeys(
            ("scheduled", "unknown", "downtime", "planned", "disaster"), Fraction(0)
        )
        for month in row["months"]:
            version = closed.get(month["label"])
            if version is None:
                continue
            new = _frozen_month(_indicator(version, row["system"], row["service"]), version)
            delta["scheduled"] += _ms(new["scheduled_seconds"]) - _ms(month["scheduled_seconds"])
            delta["unknown"] += _ms(new["unknown_seconds"]) - _ms(month["unknown_seconds"])
            delta["downtime"] += _ms(new["downtime_seconds"]) - _ms(month["downtime_seconds"])
            for kind in ("planned", "disaster"):
                delta[kind] += _ms((new["excluded_seconds"] or {}).get(kind)) - _ms(
                    (month["excluded_seconds"] or {}).get(kind)
                )
            month.update(new)
        row.update(_year_totals(row, delta, document["unknown_policy"]))
    return document
