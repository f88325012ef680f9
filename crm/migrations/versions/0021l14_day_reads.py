"""loyalty day reads by its window: an index of the lots by expiry, and the returns' bookmarks

A later night's loyalty day scanned the whole ledger for the lots falling due in its window
and read the ledgers of every customer with a return inside the points' validity. The
partial index on ``expires_at`` (only lots have one) finds the due lots directly;
``loyalty_return_marks`` holds, per returned order, the share the day last booked, so a
later day looks only at returns that changed (``loyalty.returns.returns_to_book``).

Revision ID: 0021l14_day_reads
Revises: 0020l14_ledger_key_index
"""

import sqlalchemy as sa
from alembic import op

from crm.migrations.columns import ID
from crm.migrations.columns import utc_datetime as _ts

revision = "0021l14_day_reads"
down_revision = "0020l14_ledger_key_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_loyalty_ledger_expires_at",
        "loyalty_ledger",
        ["expires_at"],
        sqlite_where=sa.text("expires_at IS NOT NULL"),
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )
    op.create_table(
        "loyalty_return_marks",
        sa.Column("order_id", ID, nullable=False),
        sa.Column("share_bp", ID, nullable=False),
        sa.Column("marked_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_loyalty_return_marks")),
    )


def downgrade() -> None:
    op.drop_table("loyalty_return_marks")
    op.drop_index("ix_loyalty_ledger_expires_at", table_name="loyalty_ledger")
