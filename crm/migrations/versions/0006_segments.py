"""segments: scored customer profiles, lead scores, segment memberships and runs

Revision ID: 0006_segments
Revises: 0002_loyalty, 0003_hygiene, 0005_identity (joins the three branches into one head)
"""

import sqlalchemy as sa
from alembic import op

from crm.migrations.columns import ID
from crm.migrations.columns import utc_datetime as _ts

revision = "0006_segments"
down_revision = ("0002_loyalty", "0003_hygiene", "0005_identity")
branch_labels = None
depends_on = None




def upgrade() -> None:
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("as_of", _ts(), nullable=False),
        sa.Column("orders", ID, nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("avg_order_value", sa.Float(), nullable=False),
        sa.Column("first_order_at", _ts(), nullable=True),
        sa.Column("last_order_at", _ts(), nullable=True),
        sa.Column("favourite_category", sa.String(length=64), nullable=True),
        sa.Column("days_since_last_activity", ID, nullable=True),
        sa.Column("reachable_email", sa.Boolean(), nullable=False),
        sa.Column("reachable_sms", sa.Boolean(), nullable=False),
        sa.Column("recency", ID, nullable=True),
        sa.Column("frequency", ID, nullable=False),
        sa.Column("monetary", sa.Float(), nullable=False),
        sa.Column("r_score", ID, nullable=True),
        sa.Column("f_score", ID, nullable=True),
        sa.Column("m_score", ID, nullable=True),
        sa.Column("rfm_code", sa.String(length=3), nullable=True),
        sa.Column("rfm_segment", sa.String(length=32), nullable=True),
        sa.Column("expected_purchases", sa.Float(), nullable=True),
        sa.Column("probability_alive", sa.Float(), nullable=True),
        sa.Column("expected_spend", sa.Float(), nullable=True),
        sa.Column("predicted_value", sa.Float(), nullable=True),
        sa.Column("personal_budget", sa.Float(), nullable=True),
        sa.Column("loyalty_share", sa.Float(), nullable=True),
        sa.Column("lead_score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_customer_profiles_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_profiles")),
    )
    op.create_index(
        "ix_customer_profiles_rfm_segment", "customer_profiles", ["rfm_segment"], unique=False
    )
    op.create_table(
        "lead_scores",
        sa.Column("lead_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=True),
        sa.Column("company_id", ID, nullable=True),
        sa.Column("as_of", _ts(), nullable=False),
        sa.Column("rule_score", sa.Float(), nullable=False),
        sa.Column("model_probability", sa.Float(), nullable=True),
        sa.Column("factors", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.lead_id"], name=op.f("fk_lead_scores_lead_id_leads")
        ),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_lead_scores")),
    )
    op.create_index("ix_lead_scores_customer_id", "lead_scores", ["customer_id"], unique=False)
    op.create_table(
        "segment_memberships",
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("entered_at", _ts(), nullable=False),
        sa.Column("left_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint(
            "segment", "customer_id", "entered_at", name=op.f("pk_segment_memberships")
        ),
    )
    op.create_index(
        "ix_segment_memberships_customer_id", "segment_memberships", ["customer_id"], unique=False
    )
    op.create_table(
        "segment_runs",
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("as_of", _ts(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("definition_sha256", sa.String(length=64), nullable=False),
        sa.Column("members", ID, nullable=False),
        sa.Column("entered", ID, nullable=False),
        sa.Column("left", ID, nullable=False),
        sa.PrimaryKeyConstraint("segment", "as_of", name=op.f("pk_segment_runs")),
    )


def downgrade() -> None:
    op.drop_table("segment_runs")
    op.drop_index("ix_segment_memberships_customer_id", table_name="segment_memberships")
    op.drop_table("segment_memberships")
    op.drop_index("ix_lead_scores_customer_id", table_name="lead_scores")
    op.drop_table("lead_scores")
    op.drop_index("ix_customer_profiles_rfm_segment", table_name="customer_profiles")
    op.drop_table("customer_profiles")
