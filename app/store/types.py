"""Column types: instants are stored as aware UTC (timestamptz on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
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
