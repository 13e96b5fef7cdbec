"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Observations, the derived per-check timeline, exclusion windows, the append-only audit
log, API tokens, runner heartbeats and scheduled report exports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_api_tokens_token_sha256'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('check_segments',
    sa.Column('check', sa.String(length=200), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('check', 'location', 'start_at', name=op.f('pk_check_segments')),
    sqlite_with_rowid=False,
    )
    with op.batch_alter_table('check_segments', schema=None) as batch_op:
        batch_op.create_index('ix_check_segments_check_location_end', ['check', 'location', 'end_at'], unique=False)

    op.create_table('check_timelines',
    sa.Column('check', sa.String(length=200), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('confirm', sa.Integer(), nullable=False),
    sa.Column('stale_after_ms', sa.BigInteger(), nullable=False),
    sa.Column('last_observed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_ok', sa.Boolean(), nullable=True),
    sa.Column('last_detail', sa.String(length=300), nullable=True),
    sa.Column('last_latency_ms', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('check', 'location', name=op.f('pk_check_timelines'))
    )
    op.create_table('exclusions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=100), nullable=False),
    sa.Column('service', sa.String(length=100), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('retroactive', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=100), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=100), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removal_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exclusions'))
    )
    with op.batch_alter_table('exclusions', schema=None) as batch_op:
        batch_op.create_index('ix_exclusions_span', ['starts_at', 'ends_at'], unique=False)

    op.create_table('observations',
    sa.Column('check', sa.String(length=200), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('detail', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('check', 'location', 'observed_at', name=op.f('pk_observations')),
    sqlite_with_rowid=False,
    )
    op.create_table('report_exports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_exports')),
    sa.UniqueConstraint('period', name=op.f('uq_report_exports_period'))
    )
    op.create_table('runner_heartbeats',
    sa.Column('runner_id', sa.String(length=200), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('interval_ms', sa.BigInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('runner_id', name=op.f('pk_runner_heartbeats'))
    )


    _create_audit_guard()


# The audit log is append-only: the database itself refuses to change or delete an entry,
# so not even a bug or a hand-typed SQL statement can rewrite history.
def _create_audit_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION kadou_audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION kadou_audit_log_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def _drop_audit_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS kadou_audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def downgrade() -> None:
    _drop_audit_guard()
    op.drop_table('runner_heartbeats')
    op.drop_table('report_exports')
    op.drop_table('observations')
    with op.batch_alter_table('exclusions', schema=None) as batch_op:
        batch_op.drop_index('ix_exclusions_span')

    op.drop_table('exclusions')
    op.drop_table('check_timelines')
    with op.batch_alter_table('check_segments', schema=None) as batch_op:
        batch_op.drop_index('ix_check_segments_check_location_end')

    op.drop_table('check_segments')
    op.drop_table('audit_log')
    op.drop_table('api_tokens')
