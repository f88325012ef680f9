"""hygiene: quality runs and issues, suppressions, data-ops tasks, field changes

Revision ID: 0003_hygiene
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

from crm.migrations.columns import ID
from crm.migrations.columns import utc_datetime as _ts

revision = "0003_hygiene"
down_revision = "0001_core"
branch_labels = None
depends_on = None




def upgrade() -> None:
    op.create_table(
        "quality_runs",
        sa.Column("quality_run_id", ID, nullable=False),
        sa.Column("as_of", _ts(), nullable=False),
        sa.Column("records", ID, nullable=False),
        sa.Column("clean_records_raw", ID, nullable=False),
        sa.Column("clean_share_raw", sa.Float(), nullable=False),
        sa.Column("clean_records", ID, nullable=False),
        sa.Column("clean_share", sa.Float(), nullable=False),
        sa.Column("customers_changed", ID, nullable=False),
        sa.Column("contact_points_changed", ID, nullable=False),
        sa.Column("suppressed", ID, nullable=False),
        sa.Column("lifted", ID, nullable=False),
        sa.Column("tasks_open", ID, nullable=False),
        sa.Column("mean_completeness", sa.Float(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("quality_run_id", name=op.f("pk_quality_runs")),
        sa.UniqueConstraint("as_of", name=op.f("uq_quality_runs_as_of")),
    )
    op.create_table(
        "quality_issues",
        sa.Column("quality_run_id", ID, nullable=False),
        sa.Column("issue", sa.String(length=48), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("records_raw", ID, nullable=False),
        sa.Column("records", ID, nullable=False),
        sa.Column("share_raw", sa.Float(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quality_run_id"],
            ["quality_runs.quality_run_id"],
            name=op.f("fk_quality_issues_quality_run_id_quality_runs"),
        ),
        sa.PrimaryKeyConstraint("quality_run_id", "issue", name=op.f("pk_quality_issues")),
    )
    op.create_table(
        "suppressions",
        sa.Column("suppression_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("evidence_at", _ts(), nullable=True),
        sa.Column("suppressed_at", _ts(), nullable=False),
        sa.Column("lifted_at", _ts(), nullable=True),
        sa.CheckConstraint(
            "(scope = 'customer' OR scope = 'email' OR scope = 'phone')", name=op.f("ck_suppressions_scope")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_suppressions_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("suppression_id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint(
            "customer_id",
            "scope",
            "target",
            "reason",
            name=op.f("uq_suppressions_customer_id_scope_target_reason"),
        ),
    )
    op.create_index(
        "ix_suppressions_customer_id_scope", "suppressions", ["customer_id", "scope"], unique=False
    )
    op.create_table(
        "data_ops_tasks",
        sa.Column("task_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("priority", ID, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.CheckConstraint("(status = 'open' OR status = 'done')", name=op.f("ck_data_ops_tasks_status")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_data_ops_tasks_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_data_ops_tasks")),
        sa.UniqueConstraint("customer_id", "task", name=op.f("uq_data_ops_tasks_customer_id_task")),
    )
    op.create_table(
        "field_changes",
        sa.Column("change_id", ID, nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("row_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("changed_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("change_id", name=op.f("pk_field_changes")),
        sa.UniqueConstraint(
            "table_name",
            "row_id",
            "field",
            "changed_at",
            name=op.f("uq_field_changes_table_name_row_id_field_changed_at"),
        ),
    )
    op.create_index("ix_field_changes_row", "field_changes", ["table_name", "row_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_field_changes_row", table_name="field_changes")
    op.drop_table("field_changes")
    op.drop_table("data_ops_tasks")
    op.drop_index("ix_suppressions_customer_id_scope", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_table("quality_issues")
    op.drop_table("quality_runs")
