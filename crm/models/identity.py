"""Identity tables (D6): the append-only merge log and the rows each merge moved.

A merge closes a duplicate customer (``status='duplicate'``, ``merged_into`` the survivor)
and re-points its orders, deals, leads, activities, events, consents, contact points,
invoices, tags and relations to the survivor. ``merge_log`` records it and
``merge_moves`` records every moved row with its original owner, so an undo (a second
``merge_log`` entry with ``action='undo'``) can put each row back. Nothing here is ever
updated or deleted. Household links go to the core ``relations`` table (kind
``household``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import ID, Base

__all__ = ["MERGE_ACTIONS", "MergeLogEntry", "MergeMove"]

MERGE_ACTIONS = ("merge", "undo")


class MergeLogEntry(Base):
    """One merge of ``merged_id`` into ``survivor_id``, or the undo of one (append-only).

    ``merge_id`` names the merge; its ``undo`` entry carries the same ``merge_id``. A merge
    is in force while it has no undo entry.
    """

    __tablename__ = "merge_log"
    __table_args__ = (
        CheckConstraint("(action = 'merge' OR action = 'undo')", name="action"),
        UniqueConstraint("merge_id", "action"),
        Index("ix_merge_log_survivor_id", "survivor_id"),
        Index("ix_merge_log_merged_id", "merged_id"),
    )

    entry_id: Mapped[int] = mapped_column(ID, primary_key=True)
    merge_id: Mapped[int] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(8))
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    rule: Mapped[str] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    run_id: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime]


class MergeMove(Base):
    """A row a merge re-pointed from ``from_customer_id`` to the survivor (for undo)."""

    __tablename__ = "merge_moves"

    merge_id: Mapped[int] = mapped_column(ID, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    row_id: Mapped[int] = mapped_column(ID, primary_key=True)
    from_customer_id: Mapped[int] = mapped_column(ID)
