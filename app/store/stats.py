"""How much the database holds, table by table: rows and bytes (``kadou db stats``).

Bytes are what the engine itself accounts, so the figures are those an operator sizes disks
with: on PostgreSQL the table's data (heap, TOAST, free-space and visibility maps) and its
indexes, summed over the partitions of a partitioned table; on SQLite the pages of each
table and of its indexes, from the ``dbstat`` virtual table. (On SQLite the observations
and the segments are tables without rowid: the primary key *is* the table, so their index
bytes are only those of secondary indexes.) A SQLite built without
``dbstat`` gives rows per table and the size of the whole file only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, inspect, select, table, text

# Alembic's own bookkeeping is not Kadou's data.
SKIPPED = ("alembic_version",)


@dataclass(frozen=True, slots=True)
class TableSize:
    name: str
    rows: int
    # True when ``rows`` is the planner's estimate rather than a count.
    rows_estimated: bool
    # None when the engine cannot tell (SQLite without dbstat).
    table_bytes: int | None
    index_bytes: int | None

    @property
    def total_bytes(self) -> int | None:
        if self.table_bytes is None or self.index_bytes is None:
            return None
        return self.table_bytes + self.index_bytes

    @property
    def bytes_per_row(self) -> float | None:
        total = self.total_bytes
        if total is None or self.rows <= 0:
            return None
        return total / self.rows


@dataclass(frozen=True, slots=True)
class DatabaseSize:
    engine: str
    # The whole database: the file on SQLite, pg_database_size on PostgreSQL.
    total_bytes: int
    tables: list[TableSize]
    # PostgreSQL: the partitions of ``observations``, in time order (the default one last);
    # the table's own line sums them.
    partitions: list[TableSize] = field(default_factory=list)

    def table(self, name: str) -> TableSize | None:
        return next((item for item in self.tables if item.name == name), None)


def database_size(engine: Engine, *, estimate_rows: bool = False) -> DatabaseSize:
    """Rows and bytes of every Kadou table.

    ``estimate_rows`` (PostgreSQL only) takes the planner's row estimate instead of a
    count for tables that statistics describe: counting a year of observations reads them
    all, the estimate costs nothing.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            return _postgres(connection, estimate_rows)
        return _sqlite(connection)


def _count(connection: Connection, name: str) -> int:
    return int(connection.execute(select(func.count()).select_from(table(name))).scalar_one())


def _postgres(connection: Connection, estimate_rows: bool) -> DatabaseSize:
    rows = connection.execute(
        text(
            """
            SELECT c.relname,
                   coalesce(sum(pg_total_relation_size(part.relid)
                                - pg_indexes_size(part.relid)), 0) AS table_bytes,
                   coalesce(sum(pg_indexes_size(part.relid)), 0) AS index_bytes,
                   coalesce(sum(greatest(p.reltuples, 0)), 0) AS estimated_rows,
                   coalesce(bool_and(p.reltuples >= 0), false) AS analysed
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
              -- A plain table is its own only part; a partitioned one is its partitions.
             CROSS JOIN LATERAL (
                   SELECT t.relid FROM pg_partition_tree(c.oid) t
                    WHERE t.isleaf AND c.relkind = 'p'
                   UNION ALL
                   SELECT c.oid WHERE c.relkind = 'r'
                   ) AS part
              JOIN pg_class p ON p.oid = part.relid
             WHERE n.nspname = current_schema()
               AND c.relkind IN ('r', 'p')
               AND NOT c.relispartition
             GROUP BY c.relname
             ORDER BY c.relname
            """
        )
    ).all()
    tables = []
    for name, table_bytes, index_bytes, estimated, analysed in rows:
        if name in SKIPPED:
            continue
        use_estimate = estimate_rows and bool(analysed)
        tables.append(
            TableSize(
                name=name,
                rows=round(estimated) if use_estimate else _count(connection, name),
                rows_estimated=use_estimate,
                table_bytes=int(table_bytes),
                index_bytes=int(index_bytes),
            )
        )
    total = connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    return DatabaseSize(
        "postgresql", int(total), tables, _observation_partitions(connection, estimate_rows)
    )


def _observation_partitions(connection: Connection, estimate_rows: bool) -> list[TableSize]:
    from app.store.partitions import partitions

    sizes = []
    for partition in partitions(connection):
        table_bytes, index_bytes, estimated, analysed = connection.execute(
            text(
                "SELECT pg_total_relation_size(c.oid) - pg_indexes_size(c.oid), "
                "pg_indexes_size(c.oid), greatest(c.reltuples, 0), c.reltuples >= 0 "
                "FROM pg_class c WHERE c.oid = CAST(:name AS regclass)"
            ),
            {"name": f'"{partition.name}"'},
        ).one()
        use_estimate = estimate_rows and bool(analysed)
        sizes.append(
            TableSize(
                name=partition.name,
                rows=round(estimated) if use_estimate else _count(connection, partition.name),
                rows_estimated=use_estimate,
                table_bytes=int(table_bytes),
                index_bytes=int(index_bytes),
            )
        )
    return sizes


def _sqlite(connection: Connection) -> DatabaseSize:
    names = sorted(n for n in inspect(connection).get_table_names() if n not in SKIPPED)
    page_size = int(connection.exec_driver_sql("PRAGMA page_size").scalar_one())
    page_count = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
    # Every b-tree (tables, their indexes, the automatic indexes of primary keys and unique
    # constraints) with the table it belongs to.
    owners: dict[str, str] = dict(
        connection.exec_driver_sql(
            "SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')"
        ).all()
    )
    try:
        pages = connection.exec_driver_sql(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
        ).all()
    except Exception:  # built without SQLITE_ENABLE_DBSTAT_VTAB: sizes unknown per table
        pages = None
    table_bytes: dict[str, int] = {}
    index_bytes: dict[str, int] = {}
    for tree, size in pages or []:
        owner = owners.get(tree)
        if owner is None:
            continue
        target = table_bytes if tree == owner else index_bytes
        target[owner] = target.get(owner, 0) + int(size)
    tables = [
        TableSize(
            name=name,
            rows=_count(connection, name),
            rows_estimated=False,
            table_bytes=None if pages is None else table_bytes.get(name, 0),
            index_bytes=None if pages is None else index_bytes.get(name, 0),
        )
        for name in names
    ]
    return DatabaseSize("sqlite", page_size * page_count, tables)
