"""Small transactional loyalty writes on a SQLAlchemy session: redemption, promo codes, adjustments.

Each function takes a :class:`~sqlalchemy.orm.Session` that the caller opened in one
transaction (``crm.db.session_scope``) and does its checks with the pure functions of
:mod:`loyalty`, so a redemption burns points and reserves stock atomically: if anything
fails, the transaction rolls back and neither happens. Stock is taken with a conditional
``UPDATE … WHERE stock >= quantity`` (a row lock on PostgreSQL, the write lock on SQLite),
and on PostgreSQL a per-customer advisory lock serialises spending of one customer's points.
A repeated idempotency key returns the first result instead of doing it again.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd
from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.orm import Session

from crm.models.core import Customer
from crm.models.loyalty import LedgerEntry, Prize, PromoCode, PromoCodeUse, Redemption
from loyalty import errors
from loyalty.catalogue import check_promo_code, promo_bonus_entry, redemption_entry
from loyalty.entries import LEDGER_COLUMNS, adjustment_entry
from loyalty.lots import balances
from loyalty.rules import Rules

__all__ = [
    "PromoUse",
    "RedemptionResult",
    "add_entries",
    "adjust_points",
    "customer_ledger",
    "redeem",
    "use_promo_code",
]


@dataclass(frozen=True)
class RedemptionResult:
    """What a redemption did (``replayed``: the key was seen before, nothing new happened)."""

    redemption_id: int
    customer_id: int
    prize_id: int
    quantity: int
    points: int
    stock_left: int
    replayed: bool = False


@dataclass(frozen=True)
class PromoUse:
    """A promo code use: the discount and bonus points it gives."""

    use_id: int
    code: str
    discount_percent: float | None
    bonus_points: int
    replayed: bool = False


def _lock_customer(session: Session, customer_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(customer_id)})


def customer_ledger(session: Session, customer_id: int) -> pd.DataFrame:
    """The customer's ledger entries as a frame with :data:`loyalty.LEDGER_COLUMNS`."""
    rows = session.execute(
        select(*(getattr(LedgerEntry, c) for c in LEDGER_COLUMNS)).where(
            LedgerEntry.customer_id == customer_id
        )
    ).all()
    frame = pd.DataFrame(rows, columns=LEDGER_COLUMNS)
    for col in ("occurred_at", "available_at", "expires_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).astype("datetime64[us, UTC]")
    return frame.astype({"customer_id": "int64", "points": "int64"})


def _none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def add_entries(session: Session, entries: pd.DataFrame, created_at: dt.datetime) -> int:
    """Insert a few ledger entries through the session; returns how many were new.

    Entries whose idempotency key exists are skipped (checked first; a concurrent
    duplicate is refused by the unique constraint).
    """
    if entries.empty:
        return 0
    keys = entries["idempotency_key"].tolist()
    seen = set(
        session.scalars(
            select(LedgerEntry.idempotency_key).where(LedgerEntry.idempotency_key.in_(keys))
        )
    )
    added = 0
    for row in entries.to_dict("records"):
        if row["idempotency_key"] in seen:
            continue
        values = {c: _none(row[c]) for c in LEDGER_COLUMNS}
        values["customer_id"] = int(values["customer_id"])
        values["points"] = int(values["points"])
        session.add(LedgerEntry(**values, created_at=created_at))
        added += 1
    session.flush()
    return added


def _available(session: Session, customer_id: int, as_of: dt.datetime) -> int:
    bal = balances(customer_ledger(session, customer_id), as_of)
    return int(bal["available"].get(customer_id, 0))


def redeem(
    session: Session,
    *,
    customer_id: int,
    prize_id: int,
    idempotency_key: str,
    as_of: dt.datetime,
    quantity: int = 1,
) -> RedemptionResult:
    """Redeem a prize: reserve its stock and burn the points, in the caller's transaction.

    Parameters
    ----------
    idempotency_key : one per customer action (the gateway's request id); submitting the
        same key again returns the first redemption and changes nothing.
    as_of : the instant of the redemption (the ledger entry's ``occurred_at``).

    Raises
    ------
    NotFoundError
        Unknown or inactive prize.
    OutOfStockError
        Less stock than ``quantity`` (also when another redemption took the last one).
    InsufficientPointsError
        Fewer available points than the price (pending points do not count).
    """
    done = session.scalar(select(Redemption).where(Redemption.idempotency_key == idempotency_key))
    if done is not None:
        left = session.scalar(select(Prize.stock).where(Prize.prize_id == done.prize_id))
        return RedemptionResult(
            done.redemption_id,
            done.customer_id,
            done.prize_id,
            done.quantity,
            done.points,
            int(left or 0),
            replayed=True,
        )
    prize = session.get(Prize, prize_id)
    if prize is None or not prize.active:
        raise errors.NotFoundError("prize_id", prize_id)
    _lock_customer(session, customer_id)
    entry = redemption_entry(
        customer_id=customer_id,
        prize_id=prize_id,
        points_price=prize.points_price,
        quantity=quantity,
        available=_available(session, customer_id, as_of),
        stock=prize.stock,
        key=idempotency_key,
        as_of=as_of,
    )
    taken = cast(
        CursorResult[Any],
        session.execute(
            update(Prize)
            .where(Prize.prize_id == prize_id, Prize.stock >= quantity)
            .values(stock=Prize.stock - quantity)
            .execution_options(synchronize_session=False)
        ),
    )
    if taken.rowcount != 1:  # someone else took the stock between our read and this update
        session.refresh(prize)
        raise errors.OutOfStockError(prize_id, quantity, prize.stock)
    add_entries(session, entry, created_at=as_of)
    red = Redemption(
        idempotency_key=idempotency_key,
        customer_id=customer_id,
        prize_id=prize_id,
        quantity=quantity,
        points=int(-entry["points"].iloc[0]),
        entry_key=str(entry["idempotency_key"].iloc[0]),
        status="reserved",
        created_at=as_of,
    )
    session.add(red)
    session.flush()
    session.refresh(prize)
    return RedemptionResult(
        red.redemption_id, customer_id, prize_id, quantity, red.points, prize.stock
    )


def use_promo_code(
    session: Session,
    *,
    code: str,
    customer_id: int,
    idempotency_key: str,
    as_of: dt.datetime,
    rules: Rules,
    order_id: int | None = None,
) -> PromoUse:
    """Use a promo code once: check dates and limits, count the use, grant its bonus points.

    Raises
    ------
    PromoCodeError
        Unknown, inactive, outside its dates, used up, or over the per-customer limit.
    """
    prior = session.scalar(
        select(PromoCodeUse).where(PromoCodeUse.idempotency_key == idempotency_key)
    )
    promo = session.scalar(select(PromoCode).where(PromoCode.code == code))
    if promo is None:
        raise errors.PromoCodeError(code, "unknown", "no such code; check the spelling")
    if prior is not None:
        return PromoUse(
            prior.use_id, code, promo.discount_percent, promo.bonus_points, replayed=True
        )
    mine = session.scalar(
        select(func.count())
        .select_from(PromoCodeUse)
        .where(
            PromoCodeUse.promo_code_id == promo.promo_code_id,
            PromoCodeUse.customer_id == customer_id,
        )
    )
    record = {
        "code": promo.code,
        "kind": promo.kind,
        "active": promo.active,
        "valid_from": promo.valid_from,
        "valid_to": promo.valid_to,
        "max_uses": promo.max_uses,
        "uses": promo.uses,
        "max_uses_per_customer": promo.max_uses_per_customer,
    }
    check_promo_code(record, int(mine or 0), as_of)
    limit = 1 if promo.kind == "single" else promo.max_uses
    cond = [PromoCode.promo_code_id == promo.promo_code_id]
    if limit is not None:
        cond.append(PromoCode.uses < limit)
    counted = cast(
        CursorResult[Any],
        session.execute(
            update(PromoCode)
            .where(*cond)
            .values(uses=PromoCode.uses + 1)
            .execution_options(synchronize_session=False)
        ),
    )
    if counted.rowcount != 1:
        raise errors.PromoCodeError(code, "used_up", "was used up a moment ago")
    use = PromoCodeUse(
        idempotency_key=idempotency_key,
        promo_code_id=promo.promo_code_id,
        customer_id=customer_id,
        order_id=order_id,
        used_at=as_of,
    )
    session.add(use)
    session.flush()
    if promo.bonus_points > 0:
        add_entries(
            session,
            promo_bonus_entry(
                customer_id=customer_id,
                code=code,
                points=promo.bonus_points,
                key=idempotency_key,
                as_of=as_of,
                rules=rules,
            ),
            created_at=as_of,
        )
    return PromoUse(use.use_id, code, promo.discount_percent, promo.bonus_points)


def adjust_points(
    session: Session,
    *,
    customer_id: int,
    points: int,
    operator: str,
    reason: str,
    idempotency_key: str,
    as_of: dt.datetime,
    rules: Rules,
) -> int:
    """An operator's correction: a new ``adjust`` entry (never an edit). Returns entries added.

    A negative adjustment may not take more than the customer has available; a retry with
    the same key returns before any check.

    Raises
    ------
    NotFoundError
        When the customer does not exist.
    InsufficientPointsError
        When a negative adjustment exceeds the available points.
    """
    if session.get(Customer, customer_id) is None:
        raise errors.NotFoundError("customer_id", customer_id)
    _lock_customer(session, customer_id)
    ledger = customer_ledger(session, customer_id)
    entry = adjustment_entry(
        customer_id=customer_id,
        points=points,
        operator=operator,
        reason=reason,
        key=idempotency_key,
        as_of=as_of,
        validity_days=rules.program.validity_days,
        available=_available(session, customer_id, as_of) if points < 0 else None,
        ledger=ledger,
    )
    return add_entries(session, entry, created_at=as_of)
