"""partition observations by month on PostgreSQL

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

On PostgreSQL ``observations`` becomes a table range-partitioned by ``observed_at``, one
partition per month of the reporting time zone, so retention drops a month's partition
whole instead of deleting its rows one by one (see ``app.store.partitions``).

Existing rows are not copied: the old table is attached as the partition of everything
before the next month (``observations_before_YYYY_MM``), which costs one read of it to
check the range, not a rewrite. Its old rows go row by row as they pass the retention,
and the whole table goes once its range is older than the retention. The primary key
(check, location, observed_at) already holds the partition key, so the ingest's
``ON CONFLICT DO NOTHING`` keeps its unique index; the old table's index is attached as
its partition, not rebuilt.

SQLite has no partitions: nothing changes there.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alembic import context, op
from sqlalchemy import text

from app.sla import periods
from app.store.partitions import DEFAULT, ensure_partitions
from app.store.types import from_ms

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = '"check", location, observed_at'


def _timezone() -> str:
    """The reporting zone the partitions follow. Kadou makes later partitions in the zone
    it runs with; if that is another one, they fill the gaps between these."""
    given = context.config.attributes.get("timezone")
    if given:
        return str(given)
    try:
        from app.settings import get_settings

        return get_settings().timezone
    except Exception:  # settings unreadable here: the default reporting zone
        return periods.DEFAULT_TIMEZONE


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    timezone = _timezone()
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo(timezone))
    following = periods.month(
        local.year + local.month // 12, local.month % 12 + 1, timezone
    )
    upper = from_ms(following.start_ms)
    legacy = f"observations_before_{following.label.replace('-', '_')}"
    op.execute(f'ALTER TABLE observations RENAME TO "{legacy}"')
    op.execute(f'ALTER TABLE "{legacy}" RENAME CONSTRAINT pk_observations TO "pk_{legacy}"')
    op.execute(
        f'CREATE TABLE observations (LIKE "{legacy}" INCLUDING DEFAULTS) '
        "PARTITION BY RANGE (observed_at)"
    )
    op.execute(f"ALTER TABLE observations ADD CONSTRAINT pk_observations PRIMARY KEY ({KEY})")
    op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF observations DEFAULT")
    if connection.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{legacy}")')).scalar_one():
        # Rows after the next month starts (a runner's clock far ahead) leave the old
        # table; the partitions created below take them from the default partition.
        connection.execute(
            text(
                f'WITH moved AS (DELETE FROM "{legacy}" WHERE observed_at >= :upper '
                "RETURNING *) INSERT INTO observations SELECT * FROM moved"
            ),
            {"upper": upper},
        )
        op.execute(
            f'ALTER TABLE observations ATTACH PARTITION "{legacy}" '
            f"FOR VALUES FROM (MINVALUE) TO ('{upper.isoformat()}')"
        )
    else:
        op.execute(f'DROP TABLE "{legacy}"')
    ensure_partitions(connection, timezone, now)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    # One plain table again: every row is copied once (a downgrade is rare; the rows of
    # all the partitions must end up in one table).
    op.execute("CREATE TABLE observations_unpartitioned (LIKE observations INCLUDING DEFAULTS)")
    op.execute("INSERT INTO observations_unpartitioned SELECT * FROM observations")
    op.execute("DROP TABLE observations")
    op.execute("ALTER TABLE observations_unpartitioned RENAME TO observations")
    op.execute(f"ALTER TABLE observations ADD CONSTRAINT pk_observations PRIMARY KEY ({KEY})")
