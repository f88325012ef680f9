"""orders: the money of the lines returned so far (a partial return), for the loyalty night

An order returned in part keeps its status (``paid``) and carries the amount returned; the
daily loyalty run reverses that share of the points the order granted. A whole return is
``status = 'returned'`` (its returned amount, when given, is the whole amount). Existing rows
get NULL: nothing returned in part.

Revision ID: 0019l14_order_returned_amount
Revises: 0018l14_ledger_lean_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0019l14_order_returned_amount"
down_revision = "0018l14_ledger_lean_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column without a default: SQLite adds it in place, no table copy
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("returned_amount", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("returned_amount")
