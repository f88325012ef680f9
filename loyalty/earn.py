"""Points for purchases (L1, L4): the batch for a day's orders and the gateway's per-order quote.

Both paths run the same vectorised code: every purchase rule, the tier multiplier and every
promotion wave becomes one column of a points matrix (orders × components), the program
cap is applied across the columns in priority order, and each non-zero cell becomes one
ledger entry naming its rule. A person reading a statement sees "120 base, 60 gold tier,
120 black friday" rather than one opaque number, and a return takes back each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loyalty.entries import _has_key, empty_ledger, make_entries
from loyalty.errors import InsufficientPointsError, MissingColumnsError
from loyalty.rules import Rules

__all__ = [
    "OrderQuote",
    "calculate_order",
    "checkout_entry",
    "max_burn_points",
    "purchase_entries",
]

_EPS = 1e-9


def _local_days(ts: pd.Series, tz: str) -> np.ndarray:
    """Local calendar day of each instant as days since 1970-01-01 (for date comparisons)."""
    local = ts.dt.tz_convert(tz).dt.tz_localize(None)
    return local.to_numpy(dtype="datetime64[us]").astype("datetime64[D]").astype(np.int64)


def _day(value: Any) -> int:
    return int(np.datetime64(value, "D").astype(np.int64))


def _scope_mask(
    rule: Any, amount: np.ndarray, day: np.ndarray, category: np.ndarray, channel: np.ndarray
) -> np.ndarray:
    mask = amount >= rule.min_amount - _EPS
    if rule.categories is not None:
        mask &= np.isin(category, rule.categories)
    if rule.channels is not None:
        mask &= np.isin(channel, rule.channels)
    if rule.start is not None:
        mask &= day >= _day(rule.start)
    if rule.end is not None:
        mask &= day <= _day(rule.end)
    return mask


def _components(
    amount: np.ndarray,
    day: np.ndarray,
    category: np.ndarray,
    channel: np.ndarray,
    tier: np.ndarray,
    rules: Rules,
) -> tuple[list[str], list[str], np.ndarray]:
    """The points matrix: one column per rule, tier bonus and promotion, capped per order."""
    n = len(amount)
    labels: list[str] = []
    reasons: list[str] = []
    cols: list[np.ndarray] = []
    base = np.zeros(n, dtype=np.int64)
    for r in rules.purchase_rules:
        mask = _scope_mask(r, amount, day, category, channel)
        if r.percent is not None:
            pts = np.floor(amount * (r.percent / 100.0) + _EPS).astype(np.int64)
        else:
            pts = np.full(n, int(r.points or 0), dtype=np.int64)
        if r.cap_per_order is not None:
            pts = np.minimum(pts, r.cap_per_order)
        pts = np.where(mask, pts, 0)
        base += pts
        labels.append(r.id)
        reasons.append("purchase")
        cols.append(pts)
    for lv in rules.tiers.levels:
        if lv.multiplier <= 1:
            continue
        extra = np.floor(base * (lv.multiplier - 1) + _EPS).astype(np.int64)
        labels.append(f"tier:{lv.code}")
        reasons.append("tier_bonus")
        cols.append(np.where(tier == lv.code, extra, 0))
    for p in rules.promotions:
        mask = _scope_mask(p, amount, day, category, channel)
        if p.tiers is not None:
            mask &= np.isin(tier, p.tiers)
        extra = np.floor(base * (p.multiplier - 1) + _EPS).astype(np.int64) + p.bonus_points
        labels.append(f"promo:{p.id}")
        reasons.append("promotion")
        cols.append(np.where(mask, extra, 0))
    if not cols:
        return labels, reasons, np.zeros((n, 0), dtype=np.int64)
    matrix = np.column_stack(cols).astype(np.int64)
    cap = rules.program.max_points_per_order
    if cap is not None:
        # the cap is filled in priority order: purchase rules, then tier, then promotions
        before = np.cumsum(matrix, axis=1) - matrix
        matrix = np.clip(cap - before, 0, matrix)
    return labels, reasons, matrix


def _column(orders: pd.DataFrame, name: str, default: str) -> np.ndarray:
    if name in orders:
        return orders[name].fillna(default).astype("str").to_numpy(dtype=object)
    return np.full(len(orders), default, dtype=object)


def purchase_entries(orders: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Earn entries for paid orders: one per order and rule, tier bonus or promotion that applies.

    Parameters
    ----------
    orders : frame with ``order_id, customer_id, ordered_at, amount`` and optionally
        ``status`` (only ``paid`` earns), ``category``, ``channel`` and ``tier`` (the
        customer's tier code when ordering, see :func:`loyalty.tiers.tier_at`; default the
        first level).
    rules : the program.

    Returns
    -------
    pandas.DataFrame
        Ledger entries keyed ``earn:<order_id>:<rule>``, pending for ``hold_days`` and
        valid ``validity_days`` after that.

    Examples
    --------
    With a 3 % base rule, an order of 1 000.00 earns 30 points.
    """
    need = ["order_id", "customer_id", "ordered_at", "amount"]
    missing = [c for c in need if c not in orders]
    if missing:
        raise MissingColumnsError(missing, "orders")
    if "status" in orders:
        orders = orders[(orders["status"] == "paid").to_numpy()]
    if orders.empty:
        return empty_ledger()
    amount = orders["amount"].to_numpy(dtype=np.float64)
    ordered_at = orders["ordered_at"]
    day = _local_days(ordered_at, rules.program.timezone)
    labels, reasons, matrix = _components(
        amount,
        day,
        _column(orders, "category", ""),
        _column(orders, "channel", ""),
        _column(orders, "tier", rules.tiers.levels[0].code),
        rules,
    )
    rows, cols = np.nonzero(matrix)
    if len(rows) == 0:
        return empty_ledger()
    order_id = pd.Series(orders["order_id"].to_numpy(dtype=np.int64)).astype("str")
    oid = order_id.take(rows).reset_index(drop=True)
    label = pd.Series(np.asarray(labels, dtype=object)[cols], dtype="str")
    when = ordered_at.reset_index(drop=True).take(rows).reset_index(drop=True)
    return make_entries(
        key="earn:" + oid + ":" + label,
        customer_id=orders["customer_id"].to_numpy(dtype=np.int64)[rows],
        kind="earn",
        points=matrix[rows, cols],
        reason=pd.Series(np.asarray(reasons, dtype=object)[cols], dtype="str"),
        rule=label,
        occurred_at=when,
        available_at=when + pd.Timedelta(days=rules.program.hold_days),
        validity_days=rules.program.validity_days,
        source_kind="order",
        source_id=oid,
    )


def max_burn_points(amount: float, available: int, rules: Rules) -> int:
    """Most points that may pay for an order of ``amount`` (the burn rule), given ``available``."""
    burn = rules.burn
    if amount < burn.min_order_amount or available < max(burn.min_points, 1):
        return 0
    by_share = int(np.floor(amount * burn.max_share / rules.program.point_value + _EPS))
    return max(0, min(int(available), by_share))


def checkout_entry(
    *,
    customer_id: int,
    order_id: int,
    points: int,
    available: int,
    as_of: Any,
    ledger: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The burn entry for points spent paying part of an order (``burn:<order_id>``).

    The key is checked first: when ``ledger`` already holds ``burn:<order_id>``, that entry
    is returned as it is, so a retried checkout is never refused. The entry's source is the
    order, so returning the order refunds the points (:func:`loyalty.reversal_entries`).

    Raises
    ------
    InsufficientPointsError
        When ``points`` exceeds ``available``.
    """
    key = f"burn:{int(order_id)}"
    if ledger is not None:
        done = _has_key(ledger, key)
        if len(done):
            return done.reset_index(drop=True)
    if points <= 0:
        raise ValueError(f"points spent must be positive, got {points}")
    if available < points:
        raise InsufficientPointsError(customer_id, int(points), int(available))
    return make_entries(
        key=key,
        customer_id=customer_id,
        kind="burn",
        points=-int(points),
        reason="order_payment",
        occurred_at=as_of,
        source_kind="order",
        source_id=str(int(order_id)),
    )


@dataclass(frozen=True)
class OrderQuote:
    """What an order earns and may burn, for the gateway to show at checkout."""

    customer_id: int
    tier: str
    amount: float
    max_burn_points: int
    burn_points: int
    paid_amount: float
    earn_points: int
    earn_breakdown: dict[str, int] = field(default_factory=dict)
    pending_days: int = 0


def calculate_order(
    order: Mapping[str, Any],
    rules: Rules,
    *,
    tier: str | None = None,
    available_points: int = 0,
    use_points: int = 0,
) -> OrderQuote:
    """Quote one order: points it may burn and points it will earn (same rules as the batch).

    Parameters
    ----------
    order : mapping with ``customer_id``, ``amount``, ``ordered_at`` (aware datetime) and
        optionally ``category`` and ``channel``.
    tier : the customer's current tier code (default the first level).
    available_points : the customer's spendable points (:func:`loyalty.ledger.balances`).
    use_points : points the customer wants to spend; at most :func:`max_burn_points`.

    Returns
    -------
    OrderQuote
        Points earn on the amount paid in money (``amount - burn × point_value``).

    Raises
    ------
    InsufficientPointsError
        When ``use_points`` exceeds ``available_points``.
    """
    amount = float(order["amount"])
    customer_id = int(order["customer_id"])
    tier_code = tier or rules.tiers.levels[0].code
    rules.tier_index(tier_code)
    if use_points > available_points:
        raise InsufficientPointsError(customer_id, use_points, available_points)
    limit = max_burn_points(amount, available_points, rules)
    burn = max(0, min(int(use_points), limit))
    paid = round(amount - burn * rules.program.point_value, 2)
    when = pd.Timestamp(order["ordered_at"])
    if when.tzinfo is None:
        raise ValueError("ordered_at must be timezone-aware")
    day = _local_days(pd.Series([when]), rules.program.timezone)
    labels, _reasons, matrix = _components(
        np.array([paid]),
        day,
        np.array([order.get("category") or ""], dtype=object),
        np.array([order.get("channel") or ""], dtype=object),
        np.array([tier_code], dtype=object),
        rules,
    )
    row = matrix[0] if matrix.size else np.zeros(0, dtype=np.int64)
    breakdown = {lab: int(p) for lab, p in zip(labels, row, strict=True) if p > 0}
    return OrderQuote(
        customer_id=customer_id,
        tier=tier_code,
        amount=amount,
        max_burn_points=limit,
        burn_points=burn,
        paid_amount=paid,
        earn_points=int(row.sum()),
        earn_breakdown=breakdown,
        pending_days=rules.program.hold_days,
    )
