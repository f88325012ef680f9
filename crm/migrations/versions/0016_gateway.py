"""gateway: API keys, idempotency records, intake events, delivery attempts, message events

Revision ID: 0016_gateway
Revises: 0015a_campaigns (adds the outbox's claim and delivery columns)
"""

import sqlalchemy as sa
from alembic import op

from crm.migrations.columns import utc_datetime as _ts


revision = '0016_gateway'
down_revision = '0015a_campaigns'
branch_labels = None
depends_on = None



OUTBOX_COLUMNS = (
    sa.Column("claimed_by", sa.String(length=64), nullable=True),
    sa.Column("lease_until", _ts(), nullable=True),
    sa.Column("attempts", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", _ts(), nullable=True),
    sa.Column("sent_at", _ts(), nullable=True),
    sa.Column("provider_message_id", sa.String(length=255), nullable=True),
    sa.Column("last_error", sa.String(length=255), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in OUTBOX_COLUMNS:
            batch_op.add_column(column)
    op.create_table('api_keys',
    sa.Column('key_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=128), nullable=False),
    sa.Column('created_at', _ts(), nullable=False),
    sa.Column('revoked_at', _ts(), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('delivery_attempts',
    sa.Column('attempt_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.String(length=255), nullable=True),
    sa.Column('provider_message_id', sa.String(length=128), nullable=True),
    sa.Column('started_at', _ts(), nullable=False),
    sa.Column('finished_at', _ts(), nullable=False),
    sa.PrimaryKeyConstraint('attempt_id', name=op.f('pk_delivery_attempts'))
    )
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_attempts_message_id', ['message_id'], unique=False)

    op.create_table('idempotency_records',
    sa.Column('record_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('request_sha256', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', _ts(), nullable=False),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('key_id', 'idempotency_key', name=op.f('uq_idempotency_records_key_id_idempotency_key'))
    )
    op.create_table('intake_events',
    sa.Column('intake_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('key_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('received_at', _ts(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('applied_at', _ts(), nullable=True),
    sa.PrimaryKeyConstraint('intake_id', name=op.f('pk_intake_events'))
    )
    with op.batch_alter_table('intake_events', schema=None) as batch_op:
        batch_op.create_index('ix_intake_events_status_kind', ['status', 'kind'], unique=False)

    op.create_table('message_events',
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('message_key', sa.String(length=255), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.String(length=255), nullable=True),
    sa.Column('occurred_at', _ts(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_message_events')),
    sa.UniqueConstraint('external_id', name=op.f('uq_message_events_external_id'))
    )
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.create_index('ix_message_events_message_key', ['message_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in OUTBOX_COLUMNS:
            batch_op.drop_column(column.name)
    with op.batch_alter_table('message_events', schema=None) as batch_op:
        batch_op.drop_index('ix_message_events_message_key')

    op.drop_table('message_events')
    with op.batch_alter_table('intake_events', schema=None) as batch_op:
        batch_op.drop_index('ix_intake_events_status_kind')

    op.drop_table('intake_events')
    op.drop_table('idempotency_records')
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_attempts_message_id')

    op.drop_table('delivery_attempts')
    op.drop_table('api_keys')
