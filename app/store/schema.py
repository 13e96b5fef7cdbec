"""What the database holds, table by table: shown before a schema downgrade drops it."""

from __future__ import annotations

from sqlalchemy import Engine, func, inspect, select, table


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the database (Alembic's own bookkeeping left out)."""
    with engine.connect() as connection:
        names = [
            name for name in inspect(connection).get_table_names() if name != "alembic_version"
        ]
        return {
            name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
            for name in sorted(names)
        }
