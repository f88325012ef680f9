"""Points for purchases (L1, L4): the batch for a day's orders and the gateway's per-order quote.

Both paths run the same vectorised code: every purchase rule, the tier multiplier and every
promotion wave becomes one column of a points matrix (orders × components), the program
cap is applied across the columns in priority order, and each non-zero cell becomes one
ledger entry naming its rule. A person reading a statement sees "120 base, 60 gold tier,
120 black friday" rather than one opaque number, and a return takes back each of them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loyalty.entries import (
    _DAY_US,
    _NAT_US,
    _arrow_text,
    _has_key,
    _small,
    _us,
    _utc,
    empty_ledger,
    make_entries,
)
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
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class _Scope:
    """A rule's or promotion's filters, read once from the rules."""

    min_amount: float
    categories: frozenset[str] | None
    channels: frozenset[str] | None
    start: int | None  # local day numbers (days since 1970-01-01)
    end: int | None
    tiers: frozenset[str] | None = None


@dataclass(frozen=True)
class _Program:
    """The rules as the points matrix reads them: parsed once per :class:`Rules` object."""

    purchase: tuple[tuple[_Scope, float | None, int, int | None], ...]
    tiers: tuple[tuple[str, float], ...]  # levels with a multiplier above 1
    promotions: tuple[tuple[_Scope, float, int], ...]
    labels: np.ndarray  # one per matrix column
    reasons: np.ndarray
    zone: zoneinfo.ZoneInfo
    first_tier: str


def _scope(rule: Any, tiers: Any = None) -> _Scope:
    def days(value: Any) -> int | None:
        return None if value is None else int(value.toordinal() - _EPOCH_ORDINAL)

    def codes(values: Any) -> frozenset[str] | None:
        return None if values is None else frozenset(values)

    return _Scope(
        float(rule.min_amount),
        codes(rule.categories),
        codes(rule.channels),
        days(rule.start),
        days(rule.end),
        codes(tiers),
    )


#: parsed programs by the identity of their Rules (held, so an id is never reused meanwhile)
_PROGRAMS: dict[int, tuple[Rules, _Program]] = {}


def _program(rules: Rules) -> _Program:
    """The parsed form of ``rules``, built once per object (a frozen model never changes)."""
    hit = _PROGRAMS.get(id(rules))
    if hit is not None and hit[0] is rules:
        return hit[1]
    purchase = tuple(
        (_scope(r), r.percent, int(r.points or 0), r.cap_per_order) for r in rules.purchase_rules
    )
    tiers = tuple((lv.code, lv.multiplier) for lv in rules.tiers.levels if lv.multiplier > 1)
    promotions = tuple((_scope(p, p.tiers), p.multiplier, p.bonus_points) for p in rules.promotions)
    labels = [r.id for r in rules.purchase_rules]
    labels += [f"tier:{code}" for code, _ in tiers]
    labels += [f"promo:{p.id}" for p in rules.promotions]
    reasons = ["purchase"] * len(purchase) + ["tier_bonus"] * len(tiers)
    reasons += ["promotion"] * len(promotions)
    program = _Program(
        purchase,
        tiers,
        promotions,
        np.asarray(labels, dtype=object),
        np.asarray(reasons, dtype=object),
        zoneinfo.ZoneInfo(rules.program.timezone),
        rules.tiers.levels[0].code,
    )
    if len(_PROGRAMS) >= 16:
        _PROGRAMS.clear()
    _PROGRAMS[id(rules)] = (rules, program)
    return program


def _local_days(us: np.ndarray, zone: zoneinfo.ZoneInfo) -> np.ndarray:
    """Local calendar day of each instant (UTC microseconds) as days since 1970-01-01."""
    if _small(len(us)):
        return np.fromiter(
            (
                dt.datetime.fromtimestamp(v // 1_000_000, zone).date().toordinal() - _EPOCH_ORDINAL
                for v in us.tolist()
            ),
            dtype=np.int64,
            count=len(us),
        )
    local = pd.Series(_utc(us)).dt.tz_convert(zone).dt.tz_localize(None)
    return local.to_numpy(dtype="datetime64[us]").astype("datetime64[D]").astype(np.int64)


def _member(values: Any, allowed: frozenset[str]) -> np.ndarray:
    """Whether each text value is one of ``allowed`` (an object array, or a categorical)."""
    if isinstance(values, pd.Categorical):
        hit = [i for i, name in enumerate(values.categories) if name in allowed]
        return np.isin(values.codes, hit)
    if _small(len(values)):
        return np.fromiter((v in allowed for v in values.tolist()), dtype=bool, count=len(values))
    return np.isin(values, list(allowed))


def _scope_mask(
    scope: _Scope, amount: np.ndarray, day: np.ndarray, category: Any, channel: Any
) -> np.ndarray:
    mask = amount >= scope.min_amount - _EPS
    if scope.categories is not None:
        mask &= _member(category, scope.categories)
    if scope.channels is not None:
        mask &= _member(channel, scope.channels)
    if scope.start is not None:
        mask &= day >= scope.start
    if scope.end is not None:
        mask &= day <= scope.end
    return mask


def _components(
    amount: np.ndarray,
    day: np.ndarray,
    category: Any,
    channel: Any,
    tier: Any,
    rules: Rules,
) -> np.ndarray:
    """The points matrix: one column per rule, tier bonus and promotion, capped per order.

    Its columns are labelled by ``_program(rules).labels`` (and ``.reasons``). The text
    columns are object arrays or categoricals (:func:`_column`).
    """
    prog = _program(rules)
    n = len(amount)
    cols: list[np.ndarray] = []
    base = np.zeros(n, dtype=np.int64)
    for scope, percent, points, cap in prog.purchase:
        mask = _scope_mask(scope, amount, day, category, channel)
        if percent is not None:
            pts = np.floor(amount * (percent / 100.0) + _EPS).astype(np.int64)
        else:
            pts = np.full(n, points, dtype=np.int64)
        if cap is not None:
            pts = np.minimum(pts, cap)
        pts = np.where(mask, pts, 0)
        base += pts
        cols.append(pts)
    for code, multiplier in prog.tiers:
        extra = np.floor(base * (multiplier - 1) + _EPS).astype(np.int64)
        cols.append(np.where(tier == code, extra, 0))
    for scope, multiplier, bonus in prog.promotions:
        mask = _scope_mask(scope, amount, day, category, channel)
        if scope.tiers is not None:
            mask &= _member(tier, scope.tiers)
        extra = np.floor(base * (multiplier - 1) + _EPS).astype(np.int64) + bonus
        cols.append(np.where(mask, extra, 0))
    if not cols:
        return np.zeros((n, 0), dtype=np.int64)
    matrix = np.column_stack(cols).astype(np.int64, copy=False)
    cap_all = rules.program.max_points_per_order
    if cap_all is not None:
        # the cap is filled in priority order: purchase rules, then tier, then promotions;
        # it changes only the orders where a running total passes it (a handful), so only
        # those are clipped, not a copy of the whole matrix per step
        running = np.zeros(n, dtype=np.int64)
        passed = np.zeros(n, dtype=bool)
        for col in cols:
            running += col
            passed |= running > cap_all
        over = np.flatnonzero(passed)
        if len(over):
            part = matrix[over]
            matrix[over] = np.clip(cap_all - (np.cumsum(part, axis=1) - part), 0, part)
    return matrix


def _column(orders: pd.DataFrame, name: str, default: str, keep: np.ndarray | None) -> Any:
    """Column ``name`` as text (missing: ``default``), the ``keep`` rows.

    An object array for a few rows; for many, a categorical encoded by Arrow (a handful of
    categories and channels: comparing codes instead of ten million Python strings).
    """
    if name not in orders:
        n = len(orders) if keep is None else len(keep)
        return np.full(n, default, dtype=object)
    col = orders[name]
    if _small(len(col)):
        values = col.to_numpy(dtype=object)
        values = values if keep is None else values[keep]
        return np.fromiter(
            (v if isinstance(v, str) else default if pd.isna(v) else str(v) for v in values),
            dtype=object,
            count=len(values),
        )
    text = _arrow_text(col.fillna(default).astype("str"))
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    coded = pc.dictionary_encode(text)
    codes = np.asarray(coded.indices.to_numpy(zero_copy_only=False))
    return pd.Categorical.from_codes(
        codes if keep is None else codes[keep], categories=coded.dictionary.to_pylist()
    )


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
    keep: np.ndarray | None = None
    if "status" in orders:
        status = orders["status"]
        paid = (
            status.to_numpy(dtype=object) == "paid"
            if _small(len(status))
            else (status == "paid").to_numpy(dtype=bool, na_value=False)
        )
        keep = None if paid.all() else np.flatnonzero(paid)
    n = len(orders) if keep is None else len(keep)
    if n == 0:
        return empty_ledger()

    def values(name: str, dtype: Any) -> np.ndarray:
        out = orders[name].to_numpy(dtype=dtype)
        return out if keep is None else out[keep]

    prog = _program(rules)
    amount = values("amount", np.float64)
    when_us = _us(orders["ordered_at"])
    when_us = when_us if keep is None else when_us[keep]
    matrix = _components(
        amount,
        _local_days(when_us, prog.zone),
        _column(orders, "category", "", keep),
        _column(orders, "channel", "", keep),
        _column(orders, "tier", prog.first_tier, keep),
        rules,
    )
    rows, cols = np.nonzero(matrix)
    if len(rows) == 0:
        return empty_ledger()
    order_id = values("order_id", np.int64)[rows]
    label: Any
    reason: Any
    if _small(len(rows)):
        label, reason = prog.labels[cols], prog.reasons[cols]
        oid: Any = np.asarray([str(v) for v in order_id.tolist()], dtype=object)
        key: Any = np.asarray(
            [f"earn:{o}:{lab}" for o, lab in zip(oid.tolist(), label.tolist(), strict=True)],
            dtype=object,
        )
    else:
        # in Arrow, column by column: the labels decoded from their column numbers and the
        # order ids printed by a cast, rather than ten million Python strings for each
        label, reason = _decode(cols, prog.labels), _decode(cols, prog.reasons)
        oid = pc.cast(pa.array(order_id), pa.string())
        key = pc.binary_join_element_wise("earn:", oid, ":", label, "")
    when = when_us[rows]
    hold = np.where(when == _NAT_US, _NAT_US, when + rules.program.hold_days * _DAY_US)
    return make_entries(
        key=key,
        customer_id=values("customer_id", np.int64)[rows],
        kind="earn",
        points=matrix[rows, cols],
        reason=reason,
        rule=label,
        occurred_at=when.view("datetime64[us]"),
        available_at=hold.view("datetime64[us]"),
        validity_days=rules.program.validity_days,
        source_kind="order",
        source_id=oid,
    )


def _decode(codes: np.ndarray, names: np.ndarray) -> pa.Array:
    """``names[codes]`` as Arrow strings, decoded in C (``names``: a few distinct texts)."""
    table = pa.array(names.tolist(), type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), table).cast(pa.string())


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
        if done is not None:
            return done
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
    prog = _program(rules)
    day = when.to_pydatetime().astimezone(prog.zone).date().toordinal() - _EPOCH_ORDINAL
    matrix = _components(
        np.array([paid]),
        np.array([day], dtype=np.int64),
        np.array([order.get("category") or ""], dtype=object),
        np.array([order.get("channel") or ""], dtype=object),
        np.array([tier_code], dtype=object),
        rules,
    )
    row = matrix[0].tolist() if matrix.size else []
    breakdown = {lab: p for lab, p in zip(prog.labels.tolist(), row, strict=True) if p > 0}
    return OrderQuote(
        customer_id=customer_id,
        tier=tier_code,
        amount=amount,
        max_burn_points=limit,
        burn_points=burn,
        paid_amount=paid,
        earn_points=int(sum(row)),
        earn_breakdown=breakdown,
        pending_days=rules.program.hold_days,
    )
