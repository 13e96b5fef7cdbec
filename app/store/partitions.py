"""Monthly range partitions of ``observations`` on PostgreSQL, kept by Kadou itself.

On PostgreSQL the observations table is partitioned by ``observed_at``, one partition per
month of the reporting time zone (so a closed month's observations sit in partitions of
their own, and retention drops them whole instead of deleting hundreds of millions of rows
one by one). Kadou creates the partitions of the current month and the next
:data:`AHEAD_MONTHS` at the start of ``kadou serve`` and ``kadou import`` and daily, so
an operator never maintains them (no pg_partman). A default partition catches any row no
monthly partition covers (a late import of old history, a clock far in the future), so an
insert never fails for want of a partition; when a new monthly partition's range holds
rows of the default partition, they are moved into it as it is created.

All partition DDL (creating ahead, dropping for retention) runs under one transaction-level
advisory lock, so several replicas doing it at once take turns and the second finds the
work done. New partitions are made as plain tables and then attached: ATTACH needs only a
SHARE UPDATE EXCLUSIVE lock on the parent, so probes keep being stored meanwhile, where
CREATE TABLE ... PARTITION OF would lock every writer out.

SQLite has no partitions: every function here is a no-op there (retention deletes rows in
bounded batches, see ``app.store.prune``). End-of-observation marks are not partitioned:
a runner writes one per check only when it stops, orders of magnitude fewer rows than
observations, so deleting them in batches costs nothing worth a partition scheme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session, sessionmaker

from app.sla import periods
from app.store.locks import lock_key
from app.store.types import from_ms

PARENT = "observations"
DEFAULT = "observations_default"
# The current month and this many after it always have a partition: three months of
# downtime of every Kadou process before a row lands in the default partition.
AHEAD_MONTHS = 3
# DDL waits at most this long for a lock (a long report reading the default partition,
# say) and then gives up, to be retried at the next turn: a queued ACCESS EXCLUSIVE request
# would otherwise hold every writer behind it.
LOCK_TIMEOUT = "30s"

Series = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    # None: unbounded on that side (MINVALUE / MAXVALUE); both None for the default one.
    start: datetime | None
    end: datetime | None
    is_default: bool = False

    def covers(self, instant: datetime) -> bool:
        if self.is_default:
            return False
        return (self.start is None or self.start <= instant) and (
            self.end is None or instant < self.end
        )


def is_partitioned(connection: Connection) -> bool:
    """True on PostgreSQL once migration 0006 made ``observations`` a partitioned table."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        text(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = :name"
        ),
        {"name": PARENT},
    ).scalar_one_or_none()
    return kind == "p"


_BOUND = re.compile(r"FOR VALUES FROM \((.+)\) TO \((.+)\)")


def _bound(value: str) -> datetime | None:
    value = value.strip()
    if value in ("MINVALUE", "MAXVALUE"):
        return None
    # pg_get_expr prints a timestamptz bound as a quoted literal with its UTC offset.
    return datetime.fromisoformat(value.strip("'")).astimezone(UTC)


def partitions(connection: Connection) -> list[Partition]:
    """The partitions of ``observations``, in time order (the default one last);
    empty when the table is not partitioned."""
    if not is_partitioned(connection):
        return []
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    ).all()
    found: list[Partition] = []
    for name, bound in rows:
        if bound == "DEFAULT":
            found.append(Partition(name, None, None, is_default=True))
            continue
        match = _BOUND.fullmatch(bound)
        if match is None:
            raise RuntimeError(f"unexpected bound of partition {name}: {bound}")
        found.append(Partition(name, _bound(match.group(1)), _bound(match.group(2))))
    early = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda item: (item.is_default, item.start or early))


def _months(timezone: str, now: datetime, ahead: int) -> list[periods.Period]:
    local = now.astimezone(ZoneInfo(timezone))
    year, month = local.year, local.month
    found = []
    for _ in range(ahead + 1):
        found.append(periods.month(year, month, timezone))
        year, month = year + month // 12, month % 12 + 1
    return found


def _gaps(
    start: datetime, end: datetime, taken: Sequence[Partition]
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) no bounded or unbounded range partition covers yet.

    Partitions made under another time zone (KADOU_TIMEZONE changed) do not line up with
    this one's months; the new partitions then fill only what is left between them.
    """
    gaps = [(start, end)]
    for item in taken:
        if item.is_default:
            continue
        low = item.start or datetime.min.replace(tzinfo=UTC)
        high = item.end or datetime.max.replace(tzinfo=UTC)
        remaining = []
        for gap_start, gap_end in gaps:
            if high <= gap_start or gap_end <= low:
                remaining.append((gap_start, gap_end))
                continue
            if gap_start < low:
                remaining.append((gap_start, low))
            if high < gap_end:
                remaining.append((high, gap_end))
        gaps = remaining
    return gaps


def _literal(instant: datetime) -> str:
    return "'" + instant.astimezone(UTC).isoformat() + "'"


def _name(label: str, start: datetime, month: periods.Period, existing: set[str]) -> str:
    name = f"{PARENT}_{label.replace('-', '_')}"
    if start != from_ms(month.start_ms) or name in existing:
        # A partial month (next to partitions of another time zone): named by its start.
        name = f"{name}_from_{start.astimezone(UTC):%Y%m%dt%H%M}"
    return name


def lock_partitions(connection: Connection) -> None:
    """Take the advisory lock of partition maintenance for the current transaction."""
    connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("partitions")})


def ensure_partitions(
    connection: Connection, timezone: str, now: datetime, *, ahead: int = AHEAD_MONTHS
) -> list[str]:
    """Create the partitions of the month of ``now`` and the ``ahead`` following ones that
    do not exist yet; returns the names created. Idempotent; a no-op on SQLite.

    Runs in the caller's transaction, which must commit for the partitions to stay.
    """
    if not is_partitioned(connection):
        return []
    lock_partitions(connection)
    existing = partitions(connection)
    names = {item.name for item in existing}
    has_default = any(item.is_default for item in existing)
    created: list[str] = []
    for month in _months(timezone, now, ahead):
        for start, end in _gaps(from_ms(month.start_ms), from_ms(month.end_ms), existing):
            name = _name(month.label, start, month, names)
            _attach(connection, name, start, end, has_default)
            names.add(name)
            existing.append(Partition(name, start, end))
            created.append(name)
    return created


def _attach(
    connection: Connection, name: str, start: datetime, end: datetime, has_default: bool
) -> None:
    bounds = f"FROM ({_literal(start)}) TO ({_literal(end)})"
    connection.execute(text(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS)'))
    if has_default:
        # PostgreSQL refuses a partition whose range already has rows in the default
        # partition. Locked first, so no row can land there between the move and the
        # attach; the attach would take this lock anyway.
        connection.execute(text(f"LOCK TABLE {DEFAULT} IN ACCESS EXCLUSIVE MODE"))
        connection.execute(
            text(
                f"WITH moved AS (DELETE FROM {DEFAULT} "
                "WHERE observed_at >= :start AND observed_at < :end RETURNING *) "
                f'INSERT INTO "{name}" SELECT * FROM moved'
            ),
            {"start": start, "end": end},
        )
    connection.execute(text(f'ALTER TABLE {PARENT} ATTACH PARTITION "{name}" FOR VALUES {bounds}'))


def maintain(
    sessions: sessionmaker[Session], timezone: str, now: datetime | None = None
) -> list[str]:
    """:func:`ensure_partitions` in a transaction of its own (``kadou serve`` at start and
    daily, ``kadou import`` before it stores anything)."""
    with sessions() as session, session.begin():
        return ensure_partitions(session.connection(), timezone, now or datetime.now(UTC))


# The series of a partition with rows a prune with these bounds keeps (a series with no
# bound keeps everything). The partition's series are found by walking its primary key
# from one series to the next (a loose index scan), and each is then one index probe: the
# cost grows with the number of series, not of rows, so the check is quick under the lock
# the drop takes.
_KEPT_SERIES = """
WITH RECURSIVE series AS (
    (SELECT "check", location FROM "{name}" ORDER BY "check", location LIMIT 1)
    UNION ALL
    SELECT following."check", following.location FROM series, LATERAL (
        SELECT "check", location FROM "{name}" AS o
         WHERE (o."check", o.location) > (series."check", series.location)
         ORDER BY "check", location LIMIT 1) AS following
)
SELECT count(*) FROM series
  LEFT JOIN unnest(CAST(:checks AS text[]), CAST(:locations AS text[]),
                   CAST(:bounds AS timestamptz[])) AS b("check", location, bound)
    ON b."check" = series."check" AND b.location = series.location
 WHERE b.bound IS NULL OR EXISTS (
       SELECT 1 FROM "{name}" AS o
        WHERE o."check" = series."check" AND o.location = series.location
          AND o.observed_at >= b.bound)
"""


def series_kept(connection: Connection, name: str, bounds: Mapping[Series, datetime]) -> int:
    """How many series keep rows in partition ``name`` after a prune with ``bounds``."""
    keys = sorted(bounds)
    return int(
        connection.execute(
            text(_KEPT_SERIES.format(name=name)),
            {
                "checks": [check for check, _ in keys],
                "locations": [location for _, location in keys],
                "bounds": [bounds[key] for key in keys],
            },
        ).scalar_one()
    )


def row_count(connection: Connection, name: str) -> int:
    return int(connection.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one())


def drop_if_all_pruned(
    connection: Connection, partition: Partition, bounds: Mapping[Series, datetime]
) -> bool:
    """Drop ``partition`` if a prune with ``bounds`` deletes every row of it; False when
    it holds rows to keep (they are then deleted row by row) or is gone already.

    Checked again under the lock: a row to keep imported since the plan was made is not
    lost.
    """
    lock_partitions(connection)
    if partition.name not in {item.name for item in partitions(connection)}:
        return False  # dropped meanwhile by another prune
    connection.execute(text(f'LOCK TABLE "{partition.name}" IN ACCESS EXCLUSIVE MODE'))
    if series_kept(connection, partition.name, bounds):
        return False
    connection.execute(text(f'DROP TABLE "{partition.name}"'))
    return True
