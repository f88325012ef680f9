"""Hygiene tables (D7, D8): quality runs and their issues, suppressions, data-ops tasks, field changes.

- ``quality_runs``: one row per ``crm clean`` run (keyed by its ``as_of``) with the
  "% clean records" KPI before and after the automatic fixes, so it can be plotted over time.
- ``quality_issues``: the KPI's breakdown by issue for each run.
- ``suppressions``: a contact or one of its channels taken out of marketing, with the reason;
  rows are never deleted, a suppression that no longer holds gets ``lifted_at``.
- ``data_ops_tasks``: the "robot" list of cards worth fixing by hand (ask for an email,
  fix a mistyped domain…); a task that is no longer needed is closed, not deleted.
- ``field_changes``: every value an automatic fix changed, old and new (append-only), so
  nothing is lost silently.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import ID, Base

__all__ = ["DataOpsTask", "FieldChange", "QualityIssue", "QualityRun", "Suppression"]


class QualityRun(Base):
    """One hygiene run and its headline KPI."""

    __tablename__ = "quality_runs"

    quality_run_id: Mapped[int] = mapped_column(ID, primary_key=True)
    as_of: Mapped[dt.datetime] = mapped_column(unique=True)
    records: Mapped[int]  # active customers measured
    clean_records_raw: Mapped[int]  # with no issue, as found
    clean_share_raw: Mapped[float] = mapped_column(Float)
    clean_records: Mapped[int]  # with no issue left after the automatic fixes
    clean_share: Mapped[float] = mapped_column(Float)
    customers_changed: Mapped[int] = mapped_column(default=0)
    contact_points_changed: Mapped[int] = mapped_column(default=0)
    suppressed: Mapped[int] = mapped_column(default=0)  # new suppressions in this run
    lifted: Mapped[int] = mapped_column(default=0)
    tasks_open: Mapped[int] = mapped_column(default=0)
    mean_completeness: Mapped[float] = mapped_column(Float, default=0.0)
    finished_at: Mapped[dt.datetime]


class QualityIssue(Base):
    """How many records of a run had one issue, as found and after the automatic fixes."""

    __tablename__ = "quality_issues"

    quality_run_id: Mapped[int] = mapped_column(
        ForeignKey("quality_runs.quality_run_id"), primary_key=True
    )
    issue: Mapped[str] = mapped_column(String(48), primary_key=True)
    field: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))  # error, warning, info
    records_raw: Mapped[int]
    records: Mapped[int]  # still open after the automatic fixes
    share_raw: Mapped[float] = mapped_column(Float)
    share: Mapped[float] = mapped_column(Float)


class Suppression(Base):
    """A customer (``scope`` customer) or one channel of theirs taken out of marketing, with the reason."""

    __tablename__ = "suppressions"
    __table_args__ = (
        CheckConstraint("(scope = 'customer' OR scope = 'email' OR scope = 'phone')", name="scope"),
        UniqueConstraint("customer_id", "scope", "target", "reason"),
        Index("ix_suppressions_customer_id_scope", "customer_id", "scope"),
    )

    suppression_id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    scope: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(255), default="")  # the address/number, or ""
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(255))
    evidence_at: Mapped[dt.datetime | None]  # the bounce, the last activity…
    suppressed_at: Mapped[dt.datetime]
    lifted_at: Mapped[dt.datetime | None]


class DataOpsTask(Base):
    """A card worth fixing by hand, and what to do ("robot" list, D7)."""

    __tablename__ = "data_ops_tasks"
    __table_args__ = (
        CheckConstraint("(status = 'open' OR status = 'done')", name="status"),
        UniqueConstraint("customer_id", "task"),
    )

    task_id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    task: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[int]  # 1 most urgent
    owner: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="open")
    created_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]


class FieldChange(Base):
    """A value an automatic hygiene rule changed (append-only audit)."""

    __tablename__ = "field_changes"
    __table_args__ = (
        UniqueConstraint("table_name", "row_id", "field", "changed_at"),
        Index("ix_field_changes_row", "table_name", "row_id"),
    )

    change_id: Mapped[int] = mapped_column(ID, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(ID)
    customer_id: Mapped[int | None] = mapped_column(ID)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[dt.datetime]
