"""Retention of raw observations (``kadou db prune`` and the server's daily job).

Raw observations and end marks older than ``KADOU_OBSERVATION_RETENTION`` are deleted; the
timeline (check segments), exclusions, the audit log and closed months are kept for ever.
Nothing needed to prove a number is lost: before the observations of a month go, that
month is closed and its evidence bundle (``kadou-YYYY-MM-evidence.zip``, with the raw
observations) is in the report directory. A month whose data, including the margin an
evaluation reads before it starts, is still needed by a month that is not closed yet keeps
its observations: the cut moves back, and the prune says so.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from app.catalog.model import Catalog
from app.evaluation import INITIAL_MARGIN_MS
from app.sla import periods
from app.store import audit, history, partitions
from app.store.db import transaction
from app.store.locks import once_only
from app.store.prune import (
    BATCH_ROWS,
    Series,
    delete_before,
    first_successes,
    oldest_observation,
    prune_bounds,
    rows_between,
)
from app.store.types import from_ms

log = logging.getLogger("kadou.retention")


def bundle_path(report_dir: Path, month: str) -> Path:
    return report_dir / f"kadou-{month}-evidence.zip"


@dataclass
class MonthRows:
    month: str
    observations: int
    end_marks: int


@dataclass
class PartitionRows:
    """A monthly partition (PostgreSQL) wholly older than the cut."""

    partition: partitions.Partition
    rows: int
    # Series with rows the prune must keep (their last success before the cut): while
    # there are any, the partition stays and its other rows are deleted in batches.
    series_kept: int

    @property
    def droppable(self) -> bool:
        return self.series_kept == 0


@dataclass
class PrunePlan:
    requested_cut: datetime
    cut: datetime
    held_by: str | None  # the oldest month not closed yet, when it moved the cut back
    months: list[MonthRows] = field(default_factory=list)
    # Per (check, location): delete before its last success before the cut (see
    # app.store.prune); on PostgreSQL, its first success in the partition the cut falls in.
    bounds: dict[Series, datetime] = field(default_factory=dict)
    bundles: list[str] = field(default_factory=list)  # months whose bundle must be written
    partitions: list[PartitionRows] = field(default_factory=list)  # PostgreSQL only

    @property
    def droppable(self) -> list[PartitionRows]:
        return [item for item in self.partitions if item.droppable]

    @property
    def observations(self) -> int:
        return sum(item.observations for item in self.months)

    @property
    def end_marks(self) -> int:
        return sum(item.end_marks for item in self.months)


@dataclass
class PruneResult:
    plan: PrunePlan | None
    observations: int = 0
    end_marks: int = 0
    seconds: float = 0.0
    bundles_written: list[Path] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)


def _month_of(instant: datetime, timezone: str) -> periods.Period:
    local = instant.astimezone(ZoneInfo(timezone))
    return periods.month(local.year, local.month, timezone)


def _following(period: periods.Period) -> periods.Period:
    year, month = (int(part) for part in period.label.split("-"))
    return periods.month(year + month // 12, month % 12 + 1, period.timezone)


def plan_prune(
    session: Session, retention_ms: int, timezone: str, report_dir: Path, *, now: datetime
) -> PrunePlan | None:
    """What a prune at ``now`` deletes, month by month; None when nothing is old enough."""
    requested = now.astimezone(UTC) - timedelta(milliseconds=retention_ms)
    oldest = oldest_observation(session)
    if oldest is None or oldest >= requested:
        return None
    closed = set(history.latest_version_numbers(session))
    margin = timedelta(milliseconds=INITIAL_MARGIN_MS)
    cut, held_by = requested, None
    # Every month from the oldest one with data whose evaluation reads data before the cut
    # (its own days, or the margin before it starts) must be closed; the first one that is
    # not holds the cut back.
    month = _month_of(oldest, timezone)
    while from_ms(month.start_ms) - margin < cut:
        if month.label not in closed:
            cut, held_by = from_ms(month.start_ms) - margin, month.label
            break
        month = _following(month)
    plan = PrunePlan(requested_cut=requested, cut=cut, held_by=held_by)
    layout = partitions.partitions(session.connection())
    below = [p for p in layout if not p.is_default and p.end is not None and p.end <= cut]
    if oldest >= cut and not below:
        return plan
    plan.bounds = prune_bounds(session, cut)
    straddled = next((p for p in layout if p.start is not None and p.covers(cut)), None)
    if straddled is not None and straddled.start is not None:
        # PostgreSQL: the monthly partition the cut falls in is not thinned row by row
        # (it goes whole once it is older than the cut). Each series keeps it from its first
        # success in it on, a boundary the timeline can be amended from as well as from its
        # last one; everything before it, in older partitions, goes with them.
        plan.bounds.update(first_successes(session, straddled.start, cut))
    connection = session.connection()
    for partition in below:
        kept = partitions.series_kept(connection, partition.name, plan.bounds)
        rows = partitions.row_count(connection, partition.name)
        plan.partitions.append(PartitionRows(partition, rows, kept))
    month = _month_of(oldest, timezone)
    while from_ms(month.start_ms) < cut:
        start = max(from_ms(month.start_ms), oldest)
        observations, marks = rows_between(
            session, plan.bounds, start, min(from_ms(month.end_ms), cut)
        )
        if observations or marks:
            plan.months.append(MonthRows(month.label, observations, marks))
        month = _following(month)
    # The bundles of the months whose data (with the margin before them) reaches below the
    # cut: each keeps a copy of the observations it is evaluated from.
    month = _month_of(oldest, timezone)
    while from_ms(month.start_ms) - margin < cut:
        if not bundle_path(report_dir, month.label).exists():
            plan.bundles.append(month.label)
        month = _following(month)
    return plan


def _write_bundle(
    session: Session, catalog: Catalog, month: str, timezone: str, path: Path
) -> None:
    from app.evidence import write_bundle

    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: an interrupted prune leaves no truncated bundle
    # that a later prune would take for a written one.
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as stream:
            write_bundle(stream, session, catalog, month, timezone)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def prune_observations(
    sessions: sessionmaker[Session],
    catalog: Catalog,
    timezone: str,
    report_dir: Path,
    retention_ms: int,
    *,
    actor: str,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> PruneResult:
    """Write the missing evidence bundles, then delete what :func:`plan_prune` plans."""
    now = now or datetime.now(UTC)
    started = time.monotonic()
    with sessions() as session:
        plan = plan_prune(session, retention_ms, timezone, report_dir, now=now)
    result = PruneResult(plan)
    if plan is None or dry_run or not (plan.months or plan.droppable):
        return result
    for month in plan.bundles:
        path = bundle_path(report_dir, month)
        with sessions() as session:
            _write_bundle(session, catalog, month, timezone, path)
        result.bundles_written.append(path)
    for item in plan.droppable:
        with sessions() as session, session.begin():
            dropped = partitions.drop_if_all_pruned(
                session.connection(), item.partition, plan.bounds
            )
        if not dropped:
            # A row to keep arrived since the plan: the partition is thinned row by row.
            log.info("partition %s was not dropped: it holds rows to keep", item.partition.name)
            continue
        # Counted when planned: rows imported into so old a month since then are not.
        result.observations += item.rows
        result.partitions_dropped.append(item.partition.name)
    observations, result.end_marks = delete_before(sessions, plan.bounds, batch_rows=batch_rows)
    result.observations += observations
    result.seconds = time.monotonic() - started
    with transaction(sessions) as session:
        audit.record(
            session,
            actor=actor,
            action="prune",
            entity="observations",
            entity_id=None,
            before=None,
            after={
                "cut": plan.cut.astimezone(UTC).isoformat(),
                "observations": result.observations,
                "end_marks": result.end_marks,
                "months": [item.month for item in plan.months],
                "bundles_written": [path.name for path in result.bundles_written],
                "partitions_dropped": result.partitions_dropped,
            },
            reason="observation retention",
        )
    return result


def prune_once(
    sessions: sessionmaker[Session],
    catalog: Catalog,
    timezone: str,
    report_dir: Path,
    retention_ms: int,
    *,
    now: datetime | None = None,
) -> PruneResult | None:
    """:func:`prune_observations` in one server replica at a time (the daily job)."""
    with once_only(sessions, "prune") as claimed:
        if not claimed:
            log.debug("the scheduled prune is running in another process")
            return None
        result = prune_observations(
            sessions, catalog, timezone, report_dir, retention_ms, actor="scheduled-prune", now=now
        )
    if result.plan is not None and result.plan.held_by is not None:
        log.info(
            "observations from %s on are kept: that month is not closed yet", result.plan.held_by
        )
    if result.observations or result.end_marks:
        log.info(
            "pruned %s observations and %s end marks before %s in %.1f s%s",
            result.observations,
            result.end_marks,
            result.plan.cut.isoformat() if result.plan else "-",
            result.seconds,
            f" (dropped partitions {', '.join(result.partitions_dropped)})"
            if result.partitions_dropped
            else "",
        )
    return result


def last_prune_cut(session: Session) -> datetime | None:
    """The latest cut a prune deleted observations before, from the audit log."""
    for entry in audit.entries(session, entity="observations", limit=50):
        if entry.action == "prune" and entry.after and "cut" in entry.after:
            return datetime.fromisoformat(str(entry.after["cut"]))
    return None
