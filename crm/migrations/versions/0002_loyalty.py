"""loyalty: points ledger, tier history, prizes, redemptions, promo codes, activity events

Revision ID: 0002_loyalty
Revises: 0001_core
"""
from alembic import op

from crm.migrations.columns import ID
from crm.migrations.columns import utc_datetime as _ts
import sqlalchemy as sa


revision = '0002_loyalty'
down_revision = '0001_core'
branch_labels = None
depends_on = None




def upgrade() -> None:
    op.create_table('loyalty_ledger',
    sa.Column('entry_id', ID, nullable=False),
    sa.Column('idempotency_key', sa.String(length=160), nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('points', ID, nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('source_kind', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=True),
    sa.Column('ref_key', sa.String(length=160), nullable=True),
    sa.Column('occurred_at', _ts(), nullable=False),
    sa.Column('available_at', _ts(), nullable=True),
    sa.Column('expires_at', _ts(), nullable=True),
    sa.Column('created_at', _ts(), nullable=False),
    sa.CheckConstraint("(kind = 'earn' OR kind = 'burn' OR kind = 'expire' OR kind = 'reverse' OR kind = 'adjust')", name=op.f('ck_loyalty_ledger_kind')),
    sa.CheckConstraint('points <> 0', name=op.f('ck_loyalty_ledger_points_nonzero')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_loyalty_ledger_customer_id_customers')),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_loyalty_ledger')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_loyalty_ledger_idempotency_key'))
    )
    op.create_index('ix_loyalty_ledger_customer_id_occurred_at', 'loyalty_ledger', ['customer_id', 'occurred_at'], unique=False)
    op.create_index('ix_loyalty_ledger_source', 'loyalty_ledger', ['source_kind', 'source_id'], unique=False)
    op.create_index(op.f('ix_loyalty_ledger_ref_key'), 'loyalty_ledger', ['ref_key'], unique=False)

    op.create_table('loyalty_tier_history',
    sa.Column('tier_change_id', ID, nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('previous_tier', sa.String(length=32), nullable=False),
    sa.Column('direction', sa.String(length=4), nullable=False),
    sa.Column('effective_at', _ts(), nullable=False),
    sa.Column('basis_value', sa.Float(), nullable=False),
    sa.CheckConstraint("(direction = 'up' OR direction = 'down')", name=op.f('ck_loyalty_tier_history_direction')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_loyalty_tier_history_customer_id_customers')),
    sa.PrimaryKeyConstraint('tier_change_id', name=op.f('pk_loyalty_tier_history')),
    sa.UniqueConstraint('customer_id', 'effective_at', name=op.f('uq_loyalty_tier_history_customer_id_effective_at'))
    )

    op.create_table('loyalty_prizes',
    sa.Column('prize_id', ID, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_ru', sa.String(length=255), nullable=True),
    sa.Column('points_price', ID, nullable=False),
    sa.Column('stock', ID, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('stock >= 0', name=op.f('ck_loyalty_prizes_stock_nonnegative')),
    sa.CheckConstraint('points_price > 0', name=op.f('ck_loyalty_prizes_price_positive')),
    sa.PrimaryKeyConstraint('prize_id', name=op.f('pk_loyalty_prizes')),
    sa.UniqueConstraint('sku', name=op.f('uq_loyalty_prizes_sku'))
    )

    op.create_table('loyalty_redemptions',
    sa.Column('redemption_id', ID, nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('prize_id', ID, nullable=False),
    sa.Column('quantity', ID, nullable=False),
    sa.Column('points', ID, nullable=False),
    sa.Column('entry_key', sa.String(length=160), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', _ts(), nullable=False),
    sa.CheckConstraint("(status = 'reserved' OR status = 'fulfilled' OR status = 'cancelled')", name=op.f('ck_loyalty_redemptions_status')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_loyalty_redemptions_customer_id_customers')),
    sa.ForeignKeyConstraint(['prize_id'], ['loyalty_prizes.prize_id'], name=op.f('fk_loyalty_redemptions_prize_id_loyalty_prizes')),
    sa.PrimaryKeyConstraint('redemption_id', name=op.f('pk_loyalty_redemptions')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_loyalty_redemptions_idempotency_key'))
    )
    op.create_index(op.f('ix_loyalty_redemptions_customer_id'), 'loyalty_redemptions', ['customer_id'], unique=False)

    op.create_table('loyalty_promo_codes',
    sa.Column('promo_code_id', ID, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('discount_percent', sa.Float(), nullable=True),
    sa.Column('bonus_points', ID, nullable=False),
    sa.Column('valid_from', _ts(), nullable=True),
    sa.Column('valid_to', _ts(), nullable=True),
    sa.Column('max_uses', ID, nullable=True),
    sa.Column('max_uses_per_customer', ID, nullable=True),
    sa.Column('uses', ID, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', _ts(), nullable=False),
    sa.CheckConstraint("(kind = 'single' OR kind = 'shared')", name=op.f('ck_loyalty_promo_codes_kind')),
    sa.PrimaryKeyConstraint('promo_code_id', name=op.f('pk_loyalty_promo_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_loyalty_promo_codes_code'))
    )

    op.create_table('loyalty_promo_code_uses',
    sa.Column('use_id', ID, nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('promo_code_id', ID, nullable=False),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('order_id', ID, nullable=True),
    sa.Column('used_at', _ts(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_loyalty_promo_code_uses_customer_id_customers')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.order_id'], name=op.f('fk_loyalty_promo_code_uses_order_id_orders')),
    sa.ForeignKeyConstraint(['promo_code_id'], ['loyalty_promo_codes.promo_code_id'], name=op.f('fk_loyalty_promo_code_uses_promo_code_id_loyalty_promo_codes')),
    sa.PrimaryKeyConstraint('use_id', name=op.f('pk_loyalty_promo_code_uses')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_loyalty_promo_code_uses_idempotency_key'))
    )
    op.create_index(op.f('ix_loyalty_promo_code_uses_customer_id'), 'loyalty_promo_code_uses', ['customer_id'], unique=False)
    op.create_index(op.f('ix_loyalty_promo_code_uses_promo_code_id'), 'loyalty_promo_code_uses', ['promo_code_id'], unique=False)

    op.create_table('loyalty_events',
    sa.Column('event_id', ID, nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('customer_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', _ts(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.customer_id'], name=op.f('fk_loyalty_events_customer_id_customers')),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_loyalty_events')),
    sa.UniqueConstraint('external_id', name=op.f('uq_loyalty_events_external_id'))
    )
    op.create_index(op.f('ix_loyalty_events_customer_id'), 'loyalty_events', ['customer_id'], unique=False)
    op.create_index('ix_loyalty_events_occurred_at', 'loyalty_events', ['occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_table('loyalty_events')
    op.drop_table('loyalty_promo_code_uses')
    op.drop_table('loyalty_promo_codes')
    op.drop_table('loyalty_redemptions')
    op.drop_table('loyalty_prizes')
    op.drop_table('loyalty_tier_history')
    op.drop_table('loyalty_ledger')
