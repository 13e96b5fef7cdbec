"""token session generation

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Each API token gets a browser-session generation: a signed-in browser's cookie carries the
generation it was issued under, and signing out bumps it, so every browser session of that
token ends at once (the cookie alone cannot be taken back).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(
            sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('session_generation')
