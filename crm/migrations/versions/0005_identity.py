"""identity: append-only merge log and the rows each merge moved

Revision ID: 0005_identity
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

from crm.migrations.columns import ID
from crm.migrations.columns import utc_datetime as _ts

revision = "0005_identity"
down_revision = "0001_core"
branch_labels = None
depends_on = None




def upgrade() -> None:
    op.create_table(
        "merge_log",
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("merge_id", ID, nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("survivor_id", ID, nullable=False),
        sa.Column("merged_id", ID, nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.CheckConstraint("(action = 'merge' OR action = 'undo')", name=op.f("ck_merge_log_action")),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["customers.customer_id"],
            name=op.f("fk_merge_log_survivor_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["merged_id"], ["customers.customer_id"], name=op.f("fk_merge_log_merged_id_customers")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_merge_log")),
        sa.UniqueConstraint("merge_id", "action", name=op.f("uq_merge_log_merge_id_action")),
    )
    op.create_index("ix_merge_log_survivor_id", "merge_log", ["survivor_id"], unique=False)
    op.create_index("ix_merge_log_merged_id", "merge_log", ["merged_id"], unique=False)
    op.create_table(
        "merge_moves",
        sa.Column("merge_id", ID, nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("row_id", ID, nullable=False),
        sa.Column("from_customer_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("merge_id", "table_name", "row_id", name=op.f("pk_merge_moves")),
    )


def downgrade() -> None:
    op.drop_table("merge_moves")
    op.drop_index("ix_merge_log_merged_id", table_name="merge_log")
    op.drop_index("ix_merge_log_survivor_id", table_name="merge_log")
    op.drop_table("merge_log")
