"""Deleting raw observations and end marks older than a cut, in bounded batches.

Only ``observations`` and ``end_marks`` are touched: check segments, exclusions, the audit
log and closed months are kept for ever. Each batch is its own short transaction, so a
prune of millions of rows never holds a long lock (SQLite) or a huge transaction
(PostgreSQL), and probes keep being stored while it runs.

Each (check, location) keeps its last success before the cut, and everything after it: a
success is a boundary whose label depends on nothing before it, so the timeline can still
be amended (late results, a new ``confirm``) from there on without the pruned past. A
series with no success before the cut (down for longer than the retention) keeps all of
its observations until it has one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from app.store.models import EndMark, Observation

BATCH_ROWS = 10_000

Series = tuple[str, str]


def oldest_observation(session: Session) -> datetime | None:
    """The instant of the oldest stored observation or end mark."""
    first = session.execute(select(func.min(Observation.observed_at))).scalar_one_or_none()
    mark = session.execute(select(func.min(EndMark.at))).scalar_one_or_none()
    found = [value for value in (first, mark) if value is not None]
    return min(found) if found else None


def prune_bounds(session: Session, cut: datetime) -> dict[Series, datetime]:
    """For each (check, location), the instant before which its rows may go: its last
    success before ``cut``."""
    rows = session.execute(
        select(Observation.check, Observation.location, func.max(Observation.observed_at))
        .where(Observation.ok.is_(True), Observation.observed_at < cut)
        .group_by(Observation.check, Observation.location)
    )
    return {(check, location): at for check, location, at in rows}


def first_successes(session: Session, start: datetime, cut: datetime) -> dict[Series, datetime]:
    """For each (check, location), its first success in [start, cut)."""
    rows = session.execute(
        select(Observation.check, Observation.location, func.min(Observation.observed_at))
        .where(
            Observation.ok.is_(True),
            Observation.observed_at >= start,
            Observation.observed_at < cut,
        )
        .group_by(Observation.check, Observation.location)
    )
    return {(check, location): at for check, location, at in rows}


# The bounds travel as one parameter whatever their number (no per-series statements, no
# limit on bound variables): arrays unnested on PostgreSQL, a JSON array read with
# json_each on SQLite. Each yields the relation b("check", location, bound).
_PG_BOUNDS = """unnest(CAST(:checks AS text[]), CAST(:locations AS text[]),
       CAST(:bounds AS timestamptz[])) AS b("check", location, bound)"""
_SQLITE_BOUNDS = """(SELECT json_extract(value, '$[0]') AS "check",
        json_extract(value, '$[1]') AS location,
        json_extract(value, '$[2]') AS bound FROM json_each(:bounds)) AS b"""

# (table, its instant column) of the two tables a prune thins.
_TABLES = (("observations", "observed_at"), ("end_marks", "at"))


def _bounds_relation(
    dialect: Dialect, bounds: Mapping[Series, datetime]
) -> tuple[str, dict[str, Any]]:
    """The FROM item b("check", location, bound) of ``bounds`` and its parameters."""
    keys = sorted(bounds)
    if dialect.name == "postgresql":
        return _PG_BOUNDS, {
            "checks": [check for check, _ in keys],
            "locations": [location for _, location in keys],
            "bounds": [bounds[key] for key in keys],
        }
    # The instants in the very form the column stores them, so text comparison is time order.
    stored = Observation.__table__.c.observed_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert stored is not None
    rows = [[check, location, stored(bounds[(check, location)])] for check, location in keys]
    return _SQLITE_BOUNDS, {"bounds": json.dumps(rows)}


def _series_rows(
    dialect: Dialect, relation: str, table: str, column: str, where: str = "", limit: str = ""
) -> str:
    """A FROM clause of the rows t("check", location, instant) of ``table`` before their
    series' bound in ``relation``, and matching ``where`` (about instant ``t."{column}"``)."""
    condition = (
        f't."check" = b."check" AND t.location = b.location AND t."{column}" < b.bound{where}'
    )
    if dialect.name == "postgresql":
        # LATERAL makes each series one range scan of the primary key: with a plain join
        # PostgreSQL may read and sort the whole table in every batch.
        rows = f'SELECT t."check", t.location, t."{column}" FROM {table} AS t WHERE {condition}'
        return f"{relation} CROSS JOIN LATERAL ({rows}{limit}) AS t"
    # SQLite reads the bounds first and each series through the primary key as it is.
    return f"{relation} JOIN {table} AS t ON {condition}"


def rows_between(
    session: Session, bounds: Mapping[Series, datetime], start: datetime, end: datetime
) -> tuple[int, int]:
    """(observations, end marks) in [start, end) that a prune with ``bounds`` deletes."""
    if not bounds:
        return 0, 0
    dialect = session.get_bind().dialect
    relation, parameters = _bounds_relation(dialect, bounds)
    instant = Observation.__table__.c.observed_at.type
    counts = []
    for table, column in _TABLES:
        where = f' AND t."{column}" >= :start AND t."{column}" < :end'
        statement = text(
            f"SELECT count(*) FROM {_series_rows(dialect, relation, table, column, where)}"
        ).bindparams(bindparam("start", type_=instant), bindparam("end", type_=instant))
        counts.append(
            int(session.execute(statement, {**parameters, "start": start, "end": end}).scalar_one())
        )
    return counts[0], counts[1]


def delete_before(
    sessions: sessionmaker[Session],
    bounds: Mapping[Series, datetime],
    *,
    batch_rows: int = BATCH_ROWS,
) -> tuple[int, int]:
    """Delete each series' observations and end marks before its bound, ``batch_rows`` per
    transaction; returns (observations, end marks) deleted.

    One statement per batch, across all series: the cost follows the rows deleted, not the
    number of series (a transaction per series made 20,000 of them at 10,000 checks).
    """
    if not bounds:
        return 0, 0
    with sessions() as session:
        dialect = session.get_bind().dialect
    relation, parameters = _bounds_relation(dialect, bounds)
    deleted = []
    for table, column in _TABLES:
        # The primary keys of one batch: both engines delete through the primary-key index
        # (each series is one range of it), and as each batch is its own transaction of at
        # most batch_rows rows, probes keep being stored meanwhile.
        rows = _series_rows(dialect, relation, table, column, limit=" LIMIT :batch_rows")
        batch = f'SELECT t."check", t.location, t."{column}" FROM {rows} LIMIT :batch_rows'
        statement = text(f'DELETE FROM {table} WHERE ("check", location, "{column}") IN ({batch})')
        total = 0
        while True:
            with sessions() as session, session.begin():
                result = cast(
                    "CursorResult[Any]",
                    session.execute(statement, {**parameters, "batch_rows": batch_rows}),
                )
                count = int(result.rowcount)
            total += count
            if count < batch_rows:
                break
        deleted.append(total)
    return deleted[0], deleted[1]
