"""loyalty ledger: the idempotency key unique by an index instead of a table constraint

SQLite cannot drop a constraint written in ``CREATE TABLE``, so a bulk append had to probe
the key's B-tree row by row (most of a 9-million-entry history backfill's write). A unique
index can be dropped inside the write's transaction and rebuilt with one sort, which checks
every key at once and refuses the whole write on a repeat (``crm.store``). ``ON CONFLICT
(idempotency_key)`` works the same with either.

Revision ID: 0020l14_ledger_key_index
Revises: 0019l14_order_returned_amount
"""

from alembic import op

revision = "0020l14_ledger_key_index"
down_revision = "0019l14_order_returned_amount"
branch_labels = None
depends_on = None

NAME = "uq_loyalty_ledger_idempotency_key"


def upgrade() -> None:
    # SQLite copies the table once (batch mode); PostgreSQL drops the constraint in place
    with op.batch_alter_table("loyalty_ledger") as batch:
        batch.drop_constraint(NAME, type_="unique")
    op.create_index(NAME, "loyalty_ledger", ["idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index(NAME, table_name="loyalty_ledger")
    with op.batch_alter_table("loyalty_ledger") as batch:
        batch.create_unique_constraint(NAME, ["idempotency_key"])
