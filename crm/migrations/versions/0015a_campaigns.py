"""campaigns: definitions by version, trigger firings, runs, exclusions and the outbox

Revision ID: 0015a_campaigns
Revises: 0006_segments
"""

import sqlalchemy as sa
from alembic import op

from crm.migrations.columns import ID
from crm.migrations.columns import utc_datetime as _ts

revision = "0015a_campaigns"
down_revision = "0006_segments"
branch_labels = None
depends_on = None




def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", ID, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_versions",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("version", ID, nullable=False),
        sa.Column("definition_sha256", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_campaign_versions_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "version", name=op.f("pk_campaign_versions")),
    )
    op.create_table(
        "trigger_firings",
        sa.Column("firing_id", ID, nullable=False),
        sa.Column("firing_key", sa.String(length=255), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_version", ID, nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("event_ref", sa.String(length=128), nullable=False),
        sa.Column("event_at", _ts(), nullable=True),
        sa.Column("fired_at", _ts(), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("firing_id", name=op.f("pk_trigger_firings")),
        sa.UniqueConstraint("firing_key", name=op.f("uq_trigger_firings_firing_key")),
    )
    op.create_index(
        "ix_trigger_firings_campaign_id",
        "trigger_firings",
        ["campaign_id", "fired_at"],
        unique=False,
    )
    op.create_table(
        "campaign_runs",
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_version", ID, nullable=False),
        sa.Column("as_of", _ts(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("audience", ID, nullable=False),
        sa.Column("excluded", ID, nullable=False),
        sa.Column("holdout", ID, nullable=False),
        sa.Column("queued", ID, nullable=False),
        sa.Column("estimated_cost", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_campaign_runs")),
    )
    op.create_index(
        "ix_campaign_runs_campaign_id", "campaign_runs", ["campaign_id"], unique=False
    )
    op.create_table(
        "campaign_exclusions",
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("variant", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "customer_id", name=op.f("pk_campaign_exclusions")),
    )
    op.create_index(
        "ix_campaign_exclusions_campaign_id",
        "campaign_exclusions",
        ["campaign_id"],
        unique=False,
    )
    op.create_table(
        "outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=False),
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("campaign_version", ID, nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("variant", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=True),
        sa.Column("sms_text", sa.Text(), nullable=True),
        sa.Column("sms_encoding", sa.String(length=8), nullable=True),
        sa.Column("sms_segments", ID, nullable=True),
        sa.Column("mime", sa.LargeBinary(), nullable=True),
        sa.Column("scheduled_for", _ts(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_key", name=op.f("uq_outbox_message_key")),
    )
    op.create_index("ix_outbox_campaign_id", "outbox", ["campaign_id"], unique=False)
    op.create_index("ix_outbox_customer_id", "outbox", ["customer_id"], unique=False)
    op.create_index("ix_outbox_status", "outbox", ["status", "scheduled_for"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_status", table_name="outbox")
    op.drop_index("ix_outbox_customer_id", table_name="outbox")
    op.drop_index("ix_outbox_campaign_id", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_campaign_exclusions_campaign_id", table_name="campaign_exclusions")
    op.drop_table("campaign_exclusions")
    op.drop_index("ix_campaign_runs_campaign_id", table_name="campaign_runs")
    op.drop_table("campaign_runs")
    op.drop_index("ix_trigger_firings_campaign_id", table_name="trigger_firings")
    op.drop_table("trigger_firings")
    op.drop_table("campaign_versions")
    op.drop_table("campaigns")
