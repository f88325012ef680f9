"""Segment tables (S1–S6): the scored profile per customer, lead scores, segment memberships.

``customer_profiles`` holds the latest scored profile of each active customer (RFM scores
and segment, BTYD value, personal budget, account-level lead score), upserted by the
segments flow, so a rerun with the same ``as_of`` changes nothing. ``lead_scores`` holds
each open target lead's rule score and model probability with the factors behind them.

``segment_memberships`` is the history of who was in which marketer-defined segment: a
row is opened (``entered_at``) when a customer enters and closed (``left_at``) when they
leave; current members are the open rows. ``segment_runs`` keeps one row per segment and
evaluation moment with its size and the entered / left counts, so triggers ("segment
entry") and reports read what changed without recomputing it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import ID, Base

__all__ = ["CustomerProfile", "LeadScore", "SegmentMembership", "SegmentRun"]


class CustomerProfile(Base):
    """The latest scored profile of one customer (derived; rebuilt by every segments run)."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True)
    as_of: Mapped[dt.datetime]
    orders: Mapped[int]
    revenue: Mapped[float] = mapped_column(Float)
    avg_order_value: Mapped[float] = mapped_column(Float)
    first_order_at: Mapped[dt.datetime | None]
    last_order_at: Mapped[dt.datetime | None]
    favourite_category: Mapped[str | None] = mapped_column(String(64))
    days_since_last_activity: Mapped[int | None]
    reachable_email: Mapped[bool]
    reachable_sms: Mapped[bool]
    recency: Mapped[int | None]  # days since the last paid order
    frequency: Mapped[int]
    monetary: Mapped[float] = mapped_column(Float)
    r_score: Mapped[int | None]
    f_score: Mapped[int | None]
    m_score: Mapped[int | None]
    rfm_code: Mapped[str | None] = mapped_column(String(3))
    rfm_segment: Mapped[str | None] = mapped_column(String(32), index=True)
    expected_purchases: Mapped[float | None] = mapped_column(Float)  # over the value horizon
    probability_alive: Mapped[float | None] = mapped_column(Float)
    expected_spend: Mapped[float | None] = mapped_column(Float)
    predicted_value: Mapped[float | None] = mapped_column(Float)
    personal_budget: Mapped[float | None] = mapped_column(Float)
    loyalty_share: Mapped[float | None] = mapped_column(Float)  # share of repeat purchases
    lead_score: Mapped[float | None] = mapped_column(Float)  # best open lead's rule score


class LeadScore(Base):
    """The score of one open target lead: rules (explained) and the trained model."""

    __tablename__ = "lead_scores"

    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.lead_id"), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ID, index=True)
    company_id: Mapped[int | None] = mapped_column(ID)
    as_of: Mapped[dt.datetime]
    rule_score: Mapped[float] = mapped_column(Float)
    model_probability: Mapped[float | None] = mapped_column(Float)
    factors: Mapped[str | None] = mapped_column(Text)  # "factor: points; …", biggest first


class SegmentMembership(Base):
    """One stay of a customer in a segment: open while ``left_at`` is null."""

    __tablename__ = "segment_memberships"
    __table_args__ = (Index("ix_segment_memberships_customer_id", "customer_id"),)

    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ID, primary_key=True)
    entered_at: Mapped[dt.datetime] = mapped_column(primary_key=True)
    left_at: Mapped[dt.datetime | None]


class SegmentRun(Base):
    """One evaluation of one segment: its size and who entered or left at that moment."""

    __tablename__ = "segment_runs"

    segment: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[dt.datetime] = mapped_column(primary_key=True)
    title: Mapped[str | None] = mapped_column(String(255))
    definition_sha256: Mapped[str] = mapped_column(String(64))
    members: Mapped[int]
    entered: Mapped[int]
    left: Mapped[int]
