"""relations may hold ``maybe_same``: a pair dedup could not settle, for a person to decide

Two cards of one name at one home, one without a birth date, whose own contacts differ, are
one person or a parent and an adult child of one name; ``crm dedup`` neither merges them
nor calls them a household, and records them as ``maybe_same`` (``crm dedup --review``).

Revision ID: 0022i13_relation_maybe_same
Revises: 0021l14_day_reads
"""

from alembic import op

revision = "0022i13_relation_maybe_same"
down_revision = "0021l14_day_reads"
branch_labels = None
depends_on = None

_BEFORE = ("household", "spouse", "companion", "referred_by")
_AFTER = (*_BEFORE, "maybe_same")


def _kinds(kinds: tuple[str, ...]) -> str:
    return "(" + " OR ".join(f"kind = '{k}'" for k in kinds) + ")"


def _set(kinds: tuple[str, ...]) -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL alters the constraint in place
    with op.batch_alter_table("relations", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_relations_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_relations_kind"), _kinds(kinds))


def upgrade() -> None:
    _set(_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM relations WHERE kind = 'maybe_same'")
    _set(_BEFORE)
