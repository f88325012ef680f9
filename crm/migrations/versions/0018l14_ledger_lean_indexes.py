"""loyalty ledger: drop the two indexes no query uses (source, ref_key), the bulk write's cost

The ledger is read whole or by customer (``ix_loyalty_ledger_customer_id_occurred_at``) and
written on its unique idempotency key; nothing looks entries up by ``(source_kind,
source_id)`` or by ``ref_key`` in SQL (the pure functions join those in memory). Building
them after a history backfill took a third of its write time.

Revision ID: 0018l14_ledger_lean_indexes
Revises: 0017i14_contact_point_flags
"""

from alembic import op

revision = "0018l14_ledger_lean_indexes"
down_revision = "0017i14_contact_point_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_loyalty_ledger_source", table_name="loyalty_ledger")
    op.drop_index("ix_loyalty_ledger_ref_key", table_name="loyalty_ledger")


def downgrade() -> None:
    op.create_index("ix_loyalty_ledger_ref_key", "loyalty_ledger", ["ref_key"], unique=False)
    op.create_index(
        "ix_loyalty_ledger_source", "loyalty_ledger", ["source_kind", "source_id"], unique=False
    )
