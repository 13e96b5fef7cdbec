"""catalog history and closed months

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Every catalog Kadou runs with is kept as a version (SLA-SEMANTICS §8), and every closing of
a month freezes its report document with the digests of its inputs (§9). Both tables are
kept for ever: a closed month's figures must stay retrievable and reproducible.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(100), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_versions")),
    )
    op.create_index(
        "ix_catalog_versions_effective_from", "catalog_versions", ["effective_from"], unique=False
    )
    op.create_table(
        "month_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(100), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("catalog_digests", sa.JSON(), nullable=False),
        sa.Column("exclusions_digest", sa.String(64), nullable=False),
        sa.Column("segments_digest", sa.String(64), nullable=False),
        sa.Column("audit_watermark", sa.Integer(), nullable=False),
        sa.Column("audit_entry_ids", sa.JSON(), nullable=False),
        sa.Column("changed_inputs", sa.JSON(), nullable=False),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_month_versions")),
        sa.UniqueConstraint("month", "version", name="uq_month_versions_month_version"),
    )


def downgrade() -> None:
    op.drop_table("month_versions")
    op.drop_index("ix_catalog_versions_effective_from", table_name="catalog_versions")
    op.drop_table("catalog_versions")
