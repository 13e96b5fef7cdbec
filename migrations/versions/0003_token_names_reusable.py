"""a revoked token's name can be used again

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Token names were unique across every token ever made, so after `kadou token revoke
grafana` no new token could be called grafana. The name is now unique among active
tokens only (a partial unique index, which SQLite and PostgreSQL both have); the
revoked token keeps its row, its name and its history.

Downgrading needs the names unique again: it refuses while a revoked token shares
its name with another token, rather than renaming or deleting anything.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("uq_api_tokens_name", type_="unique")
    op.create_index(
        "uq_api_tokens_active_name",
        "api_tokens",
        ["name"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    shared = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT name FROM api_tokens GROUP BY name HAVING COUNT(*) > 1 ORDER BY name"
            )
        )
        .scalars()
        .all()
    )
    if shared:
        # ValueError: `kadou db downgrade` prints it as one line and exits 2.
        raise ValueError(
            "cannot make token names unique again: more than one token is named "
            f"{', '.join(shared)}; revoked tokens would have to be renamed or deleted first"
        )
    op.drop_index("uq_api_tokens_active_name", table_name="api_tokens")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_api_tokens_name", ["name"])
