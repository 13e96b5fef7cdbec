"""Column types: instants are stored as aware UTC (timestamptz on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# One ms <-> datetime conversion for all of Kadou, the SLA core's; the store's callers keep
# importing it from here.
from app.sla.calendar import from_ms as from_ms
from app.sla.calendar import to_ms as to_ms


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the database keeps.

    SQLite has no time zone type, so values are stored as UTC text that sorts in time
    order; PostgreSQL uses ``timestamp with time zone``. Naive datetimes are refused:
    guessing their zone is how availability numbers end up nine hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Kadou stores aware UTC instants only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def truncate_to_ms(value: datetime) -> datetime:
    """Observations are kept to the millisecond: the engine's unit and the dedup key."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


class epoch_ms(FunctionElement[int]):
    """Epoch milliseconds of a ``UTCDateTime`` column, computed by the database.

    For reads of many instants (a month's segments for every check): the driver hands back
    plain integers, which skips building an aware datetime per value and converting it back.
    Exact and floored like ``to_ms``, also for finer-than-millisecond parts and instants
    before 1970, so it may replace ``to_ms(column value)`` anywhere.
    """

    type = BigInteger()
    inherit_cache = True

    def __init__(self, column: ColumnElement[datetime]) -> None:
        super().__init__(column)


@compiles(epoch_ms, "postgresql")
def _epoch_ms_postgresql(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    # Whole seconds plus the microseconds of the second, integer all the way: EXTRACT(EPOCH)
    # alone is a double before PostgreSQL 14, which can land a millisecond low. MOD, not %,
    # which the driver's parameter style would read as a placeholder.
    column = compiler.process(next(iter(element.clauses)), **kw)
    return (
        f"(CAST(EXTRACT(EPOCH FROM date_trunc('second', {column})) AS BIGINT) * 1000"
        f" + MOD(CAST(EXTRACT(MICROSECONDS FROM {column}) AS BIGINT), 1000000) / 1000)"
    )


@compiles(epoch_ms, "sqlite")
def _epoch_ms_sqlite(element: epoch_ms, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps the UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. The seconds come from the text
    # without its fraction (strftime rounds a fraction to the millisecond, which could carry
    # into the next second) and the milliseconds are the fraction's first three digits;
    # '000' pads a missing or short fraction.
    column = compiler.process(next(iter(element.clauses)), **kw)
    return (
        f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000"
        f" + CAST(substr({column} || '000', 21, 3) AS INTEGER))"
    )
