"""Loyalty tables (L1-L4): the append-only points ledger, tier history, prize catalogue,
redemptions, promo codes and their uses, and the activity events that earn bonuses.

The ledger is the source of truth: balances are derived from it (``loyalty.ledger``), never
stored. Every ledger row has a unique ``idempotency_key`` so that a rerun adds nothing.
Referrals are ``relations`` rows of kind ``referred_by`` (core model).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import ID, Base

__all__ = [
    "ActivityEvent",
    "LedgerEntry",
    "Prize",
    "PromoCode",
    "PromoCodeUse",
    "Redemption",
    "ReturnMark",
    "TierChange",
]

LEDGER_KINDS = ("earn", "burn", "expire", "reverse", "adjust")


def _in(column: str, values: tuple[str, ...]) -> str:
    # "a = x OR a = y" rather than "a IN (x, y)": SQLite evaluates an IN list per row at about
    # 1 µs, the ORs at about 0.02 µs; 10M appended orders pay it 10M times (bench/results/store.md)
    return "(" + " OR ".join(f"{column} = '{v}'" for v in values) + ")"


class LedgerEntry(Base):
    """One movement of points. Never updated or deleted: a correction is a new entry."""

    __tablename__ = "loyalty_ledger"
    __table_args__ = (
        CheckConstraint(_in("kind", LEDGER_KINDS), name="kind"),
        CheckConstraint("points <> 0", name="points_nonzero"),
        # read whole or by customer; source and ref_key are joined in memory, not in SQL
        Index("ix_loyalty_ledger_customer_id_occurred_at", "customer_id", "occurred_at"),
        # a unique index, not a table constraint: a bulk append of a history rebuilds it once
        # (one sort checks every key) instead of probing it row by row (crm.store)
        Index("uq_loyalty_ledger_idempotency_key", "idempotency_key", unique=True),
        # a day run finds the lots falling due in its window without scanning the ledger;
        # only lots have an expiry, so half the entries are not in it
        Index(
            "ix_loyalty_ledger_expires_at",
            "expires_at",
            sqlite_where=text("expires_at IS NOT NULL"),
            postgresql_where=text("expires_at IS NOT NULL"),
        ),
    )

    entry_id: Mapped[int] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(160))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    kind: Mapped[str] = mapped_column(String(8))
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))  # purchase, welcome, expiry, return, ...
    rule: Mapped[str | None] = mapped_column(String(64))  # rule id that granted the points
    operator: Mapped[str | None] = mapped_column(String(64))  # who made a manual entry
    source_kind: Mapped[str] = mapped_column(String(16))  # order, activity, redemption, lot, ...
    source_id: Mapped[str | None] = mapped_column(String(64))
    ref_key: Mapped[str | None] = mapped_column(String(160))  # entry it reverses
    occurred_at: Mapped[dt.datetime]
    available_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class ReturnMark(Base):
    """The share of an order's return the loyalty day last booked (a day run's bookmark).

    A later day books a return again only when its share changed or the order got a new
    grant; anything else would book nothing (``loyalty.returns.returns_to_book``). Derived
    and rewritable: a missing or stale mark only makes a day look at that return again.
    """

    __tablename__ = "loyalty_return_marks"

    order_id: Mapped[int] = mapped_column(ID, primary_key=True)
    share_bp: Mapped[int]  # the returned share in basis points (10000: the whole order)
    marked_at: Mapped[dt.datetime]


class TierChange(Base):
    """An upgrade or downgrade of a customer's tier, dated."""

    __tablename__ = "loyalty_tier_history"
    __table_args__ = (
        UniqueConstraint("customer_id", "effective_at"),
        CheckConstraint(_in("direction", ("up", "down")), name="direction"),
    )

    tier_change_id: Mapped[int] = mapped_column(ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"))
    tier: Mapped[str] = mapped_column(String(32))
    previous_tier: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(4))
    effective_at: Mapped[dt.datetime]
    basis_value: Mapped[float] = mapped_column(Float)


class Prize(Base):
    """A prize of the catalogue: its price in points and the stock left."""

    __tablename__ = "loyalty_prizes"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_nonnegative"),
        CheckConstraint("points_price > 0", name="price_positive"),
    )

    prize_id: Mapped[int] = mapped_column(ID, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    name_ru: Mapped[str | None] = mapped_column(String(255))
    points_price: Mapped[int]
    stock: Mapped[int]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Redemption(Base):
    """A prize redeemed for points: the stock reserved and the burn entry, in one transaction."""

    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        CheckConstraint(_in("status", ("reserved", "fulfilled", "cancelled")), name="status"),
    )

    redemption_id: Mapped[int] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    prize_id: Mapped[int] = mapped_column(ForeignKey("loyalty_prizes.prize_id"))
    quantity: Mapped[int]
    points: Mapped[int]
    entry_key: Mapped[str] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(12), default="reserved")
    created_at: Mapped[dt.datetime]


class PromoCode(Base):
    """A promo code: single-use (one use in all) or shared, with dates and limits."""

    __tablename__ = "loyalty_promo_codes"
    __table_args__ = (CheckConstraint(_in("kind", ("single", "shared")), name="kind"),)

    promo_code_id: Mapped[int] = mapped_column(ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    discount_percent: Mapped[float | None] = mapped_column(Float)
    bonus_points: Mapped[int] = mapped_column(default=0)
    valid_from: Mapped[dt.datetime | None]
    valid_to: Mapped[dt.datetime | None]
    max_uses: Mapped[int | None]
    max_uses_per_customer: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]


class PromoCodeUse(Base):
    """One use of a promo code by a customer (on an order, optionally)."""

    __tablename__ = "loyalty_promo_code_uses"

    use_id: Mapped[int] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    promo_code_id: Mapped[int] = mapped_column(
        ForeignKey("loyalty_promo_codes.promo_code_id"), index=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.order_id"))
    used_at: Mapped[dt.datetime]


class ActivityEvent(Base):
    """A customer activity that may earn points: review, app install, profile completed, social."""

    __tablename__ = "loyalty_events"
    __table_args__ = (Index("ix_loyalty_events_occurred_at", "occurred_at"),)

    event_id: Mapped[int] = mapped_column(ID, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[dt.datetime]
