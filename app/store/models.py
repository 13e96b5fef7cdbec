"""SQLAlchemy 2.0 models. The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.store.types import UTCDateTime

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# A failure's detail is kept to this many characters (an error text, not a response body).
DETAIL_MAX = 300


def clip_detail(detail: str | None) -> str | None:
    """The detail as stored: longer texts are cut, with an ellipsis saying so."""
    if detail is None or len(detail) <= DETAIL_MAX:
        return detail
    return detail[: DETAIL_MAX - 1] + "…"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Observation(Base):
    """One probe result, exactly as observed. The key makes re-sending harmless."""

    __tablename__ = "observations"

    check: Mapped[str] = mapped_column(String(200), primary_key=True)
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(String(DETAIL_MAX))


class CheckSegment(Base):
    """A maximal run of one state (up, down, blip) of a check at a location.

    Derived from observations and amended as they arrive, so reports read state changes,
    not every probe result. Time no segment covers is unknown.
    """

    __tablename__ = "check_segments"

    check: Mapped[str] = mapped_column(String(200), primary_key=True)
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(8))

    __table_args__ = (Index("ix_check_segments_check_location_end", "check", "location", "end_at"),)


class CheckTimeline(Base):
    """The confirmation parameters a (check, location) timeline was built with.

    The row is also the lock that serialises timeline updates of one check at one location
    when several runners or API replicas write at once.
    """

    __tablename__ = "check_timelines"

    check: Mapped[str] = mapped_column(String(200), primary_key=True)
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    confirm: Mapped[int] = mapped_column(Integer)
    stale_after_ms: Mapped[int] = mapped_column(BigInteger)
    last_observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_detail: Mapped[str | None] = mapped_column(String(DETAIL_MAX))
    last_latency_ms: Mapped[float | None] = mapped_column(Float)
    # The latest end-of-observation mark: while it is at or after the last observation,
    # a runner stopped and the timeline's last hold ended there.
    last_mark_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EndMark(Base):
    """A runner stopped cleanly at ``at`` (SLA-SEMANTICS §3.1): the hold of the check's
    result before it ends there, and the time until the next observation is unknown.

    Kept apart from observations: a mark is not a probe result, it may share its instant
    with one, and the key makes re-sending harmless as for observations.
    """

    __tablename__ = "end_marks"

    check: Mapped[str] = mapped_column(String(200), primary_key=True)
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class Exclusion(Base):
    """A planned (計画停止) or disaster (災害による停止) window; removal is a soft delete."""

    __tablename__ = "exclusions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(100))
    service: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    retroactive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(100))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removal_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_exclusions_span", "starts_at", "ends_at"),)

    @property
    def scope(self) -> str:
        return self.system if self.service is None else f"{self.system}/{self.service}"


class AuditEntry(Base):
    """Append-only: triggers created by the migration refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is kept, the token itself is shown once."""

    __tablename__ = "api_tokens"
    # A name belongs to one active token at a time; a revoked token keeps its name (and its
    # history in the audit log) while a new token takes the name over.
    __table_args__ = (
        Index(
            "uq_api_tokens_active_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Browser sessions signed in with this token carry the generation they were issued
    # under; signing out bumps it, which ends every such session at once, on every replica.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RunnerHeartbeat(Base):
    """The last sign of life of each probe runner (embedded or remote agent)."""

    __tablename__ = "runner_heartbeats"

    runner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    location: Mapped[str] = mapped_column(String(64))
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    interval_ms: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReportExport(Base):
    """Scheduled monthly exports already written, so a restart does not redo or skip one."""

    __tablename__ = "report_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(32), unique=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    files: Mapped[list[str]] = mapped_column(JSON)


class CatalogVersion(Base):
    """A catalog Kadou ran with (SLA-SEMANTICS §8), kept for ever.

    ``content`` is the catalog's canonical JSON with credentials masked: the same catalog
    written with other spacing or key order is the same version, and a bundle handed to
    an auditor never carries a password.
    """

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    loaded_by: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(500))

    __table_args__ = (Index("ix_catalog_versions_effective_from", "effective_from"),)


class MonthVersion(Base):
    """One version of a closed month's report (SLA-SEMANTICS §9), kept for ever.

    Version 1 is the closing; each later one is an amendment made because an input of the
    month changed, with the figures that moved (``diff``) and the audit entries that did it.
    """

    __tablename__ = "month_versions"
    __table_args__ = (UniqueConstraint("month", "version", name="uq_month_versions_month_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7))
    version: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(String(100))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    catalog_digests: Mapped[list[str]] = mapped_column(JSON)
    exclusions_digest: Mapped[str] = mapped_column(String(64))
    segments_digest: Mapped[str] = mapped_column(String(64))
    # The last audit entry that existed when this version was made: the entries after it
    # are the candidates for the reasons of the next version.
    audit_watermark: Mapped[int] = mapped_column(Integer)
    audit_entry_ids: Mapped[list[int]] = mapped_column(JSON)
    changed_inputs: Mapped[list[str]] = mapped_column(JSON)
    diff: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "CatalogVersion",
    "CheckSegment",
    "CheckTimeline",
    "EndMark",
    "Exclusion",
    "MonthVersion",
    "Observation",
    "ReportExport",
    "RunnerHeartbeat",
]
