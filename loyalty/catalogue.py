"""Prize catalogue and promo codes (L3): the checks and ledger entries, without the database.

The database part (reserving stock and burning points in one transaction, counting promo
code uses) lives in :mod:`flows.loyalty_db`; it calls these functions inside its
transaction so the rules are the same wherever they run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from loyalty.entries import _has_key, make_entries
from loyalty.errors import InsufficientPointsError, OutOfStockError, PromoCodeError
from loyalty.rules import Rules

__all__ = ["check_promo_code", "promo_bonus_entry", "redemption_entry"]


def redemption_entry(
    *,
    customer_id: int,
    prize_id: int,
    points_price: int,
    quantity: int,
    available: int,
    stock: int,
    key: str,
    as_of: Any,
    ledger: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The burn entry for redeeming ``quantity`` of a prize, after checking points and stock.

    The idempotency key is checked first: when ``ledger`` already holds ``redeem:<key>``,
    that entry is returned as it is (appending it adds nothing), so a retry of a redemption
    that went through is never refused for the points it already spent.

    Raises
    ------
    OutOfStockError
        When ``stock < quantity``.
    InsufficientPointsError
        When ``available < points_price × quantity``.
    """
    if ledger is not None:
        done = _has_key(ledger, f"redeem:{key}")
        if done is not None:
            return done
    if quantity < 1:
        raise ValueError(f"quantity must be at least 1, got {quantity}")
    if stock < quantity:
        raise OutOfStockError(prize_id, quantity, stock)
    cost = int(points_price) * int(quantity)
    if available < cost:
        raise InsufficientPointsError(customer_id, cost, int(available))
    return make_entries(
        key=f"redeem:{key}",
        customer_id=customer_id,
        kind="burn",
        points=-cost,
        reason="redemption",
        rule=f"prize:{prize_id}",
        occurred_at=as_of,
        source_kind="redemption",
        source_id=key,
    )


def check_promo_code(code: Mapping[str, Any], uses_by_customer: int, as_of: Any) -> None:
    """Refuse a promo code that is inactive, outside its dates, or used up.

    Parameters
    ----------
    code : mapping with ``code``, ``kind`` (``single``: one use in all; ``shared``: many
        customers), ``active``, ``valid_from``, ``valid_to`` (aware datetimes or None),
        ``max_uses`` (None: unlimited), ``uses`` and ``max_uses_per_customer``.
    uses_by_customer : how often this customer has used the code already.

    Raises
    ------
    PromoCodeError
        With the reason (``inactive``, ``not_started``, ``expired``, ``used_up``,
        ``customer_limit``).
    """
    name = str(code["code"])
    at = pd.Timestamp(as_of)
    if not code.get("active", True):
        raise PromoCodeError(name, "inactive", "is switched off")
    start, end = code.get("valid_from"), code.get("valid_to")
    if start is not None and at < pd.Timestamp(start):
        raise PromoCodeError(name, "not_started", f"is valid from {start}")
    if end is not None and at > pd.Timestamp(end):
        raise PromoCodeError(name, "expired", f"expired at {end}")
    limit = 1 if code.get("kind") == "single" else code.get("max_uses")
    if limit is not None and int(code.get("uses") or 0) >= int(limit):
        raise PromoCodeError(name, "used_up", f"has been used {code.get('uses')} of {limit} times")
    per = code.get("max_uses_per_customer")
    if per is not None and uses_by_customer >= int(per):
        raise PromoCodeError(
            name, "customer_limit", f"this customer has used it {uses_by_customer} time(s)"
        )


def promo_bonus_entry(
    *, customer_id: int, code: str, points: int, key: str, as_of: Any, rules: Rules
) -> pd.DataFrame:
    """The earn entry a promo code grants (``promo:<key>``)."""
    return make_entries(
        key=f"promo:{key}",
        customer_id=customer_id,
        kind="earn",
        points=points,
        reason="promo_code",
        rule=f"code:{code}",
        occurred_at=as_of,
        validity_days=rules.program.validity_days,
        source_kind="promo_code",
        source_id=key,
    )
