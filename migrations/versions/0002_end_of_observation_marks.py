"""end-of-observation marks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

A runner that stops cleanly sends, per check and location, the instant it stopped
(SLA-SEMANTICS §3.1). The marks get a table of their own (a mark is not a probe result and
may share an instant with one), and each timeline row keeps its latest mark so that
storing a live result can tell, without a query, whether the last hold was ended.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "end_marks",
        sa.Column("check", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("check", "location", "at", name=op.f("pk_end_marks")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("check_timelines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_mark_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_timelines", schema=None) as batch_op:
        batch_op.drop_column("last_mark_at")
    op.drop_table("end_marks")
