"""Alembic environment: runs migrations on the URL Kadou is configured with."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from app.settings import get_settings
from app.store.db import make_engine
from app.store.locks import lock_key
from app.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def _one_migrator_at_a_time(connection: Connection) -> None:
    """Several replicas starting together each run `kadou db upgrade`: on PostgreSQL the
    first takes this transaction-level lock and migrates, the others wait for its commit
    and then find the schema current (Alembic reads the version after the lock).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("migrate")})


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            _one_migrator_at_a_time(connection)
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        # render_as_batch lets ALTER TABLE work on SQLite, which cannot alter in place.
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            _one_migrator_at_a_time(conn)
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
