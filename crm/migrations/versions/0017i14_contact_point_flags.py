"""contact points: hygiene's email flags stored with the point (role, free-mail, disposable)

Revision ID: 0017i14_contact_point_flags
Revises: 0016_gateway
"""

import sqlalchemy as sa
from alembic import op

revision = "0017i14_contact_point_flags"
down_revision = "0016_gateway"
branch_labels = None
depends_on = None

FLAGS = ("is_role", "is_free", "is_disposable")


def upgrade() -> None:
    with op.batch_alter_table("contact_points") as batch:
        for name in FLAGS:
            batch.add_column(sa.Column(name, sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_points") as batch:
        for name in FLAGS:
            batch.drop_column(name)
