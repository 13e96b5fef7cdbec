"""What every entry point needs: settings, the catalog, the database and its schema state."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.catalog.model import Catalog
from app.settings import Settings, get_settings
from app.store.db import DatabaseTimeouts, make_engine, normalize_url, session_factory
from app.store.ingest import TimelineParams
from app.store.late import LateAudit

log = logging.getLogger(__name__)


def migrations_directory() -> Path:
    """The Alembic scripts, wherever Kadou is installed (a checkout or a wheel)."""
    import migrations

    return Path(next(iter(migrations.__path__))).resolve()


def alembic_config(database_url: str) -> Config:
    # Built in code rather than read from alembic.ini, which only a source checkout has.
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    config.attributes["database_url"] = normalize_url(database_url)
    return config


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog

    @cached_property
    def engine(self) -> Engine:
        settings = self.settings
        timeouts = DatabaseTimeouts(
            connect=settings.db_connect_timeout_seconds,
            pool=settings.db_pool_timeout_seconds,
            statement=settings.db_statement_timeout_seconds,
        )
        return make_engine(settings.database_url, timeouts, pooled=settings.db_pooled)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @property
    def timezone(self) -> str:
        # KADOU_TIMEZONE, when set, overrides the catalog's zone.
        if "timezone" in self.settings.model_fields_set:
            return self.settings.timezone
        return self.catalog.timezone

    @cached_property
    def timeline_params(self) -> dict[str, TimelineParams]:
        return {
            key: TimelineParams(check.confirm, check.stale_after_ms)
            for key, check in self.catalog.checks().items()
        }

    @cached_property
    def late_audit(self) -> LateAudit:
        """Tells late observations in closed months from live ones (audited, §9)."""
        return LateAudit(self.timezone)

    def failing_checks(self, now: datetime) -> set[str]:
        """Checks whose latest observation from this location failed (empty if unknown).

        What the embedded runner retries at once after a restart. A database that cannot
        answer yet (an outage) gives none: those checks then wait for their grid once.
        """
        from app.store.probe_state import failing_checks

        checks = self.catalog.checks()
        if not checks:
            return set()
        # Older than every check's staleness limit, a last result says nothing any more.
        since = now - timedelta(milliseconds=max(c.stale_after_ms for c in checks.values()))
        try:
            with self.sessions() as session:
                return failing_checks(session, self.settings.location, set(checks), since)
        except Exception as error:
            log.warning("cannot read the checks' last results (%s); starting on the grid", error)
            return set()

    def schema_is_current(self) -> tuple[bool, str | None, str | None]:
        current = current_revision(self.engine)
        head = head_revision(self.settings.database_url)
        return current == head, current, head


def open_runtime(settings: Settings | None = None, *, catalog: Catalog | None = None) -> Runtime:
    settings = settings or get_settings()
    return Runtime(settings=settings, catalog=catalog or load_catalog(settings.catalog))
