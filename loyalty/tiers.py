"""Tiers (L2): levels by spend or points over a rolling window, with dated upgrades and downgrades.

The tier history is append-only like the ledger: one row per change (``customer_id, tier,
previous_tier, direction, effective_at, basis_value``). A customer without rows is on the
first level. :func:`tier_changes` compares the basis (spend or points in the window) with
the current tier and returns the rows to append; :func:`tier_at` tells the tier a customer
had at any instant (the batch earn uses it so an order earns with the tier of its day).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loyalty.entries import instant
from loyalty.errors import MissingColumnsError
from loyalty.rules import Rules

__all__ = [
    "TIER_HISTORY_COLUMNS",
    "current_tiers",
    "empty_tier_history",
    "tier_at",
    "tier_basis",
    "tier_changes",
]

TIER_HISTORY_COLUMNS = [
    "customer_id",
    "tier",
    "previous_tier",
    "direction",
    "effective_at",
    "basis_value",
]


_EMPTY = pd.DataFrame(
    {
        "customer_id": pd.Series([], dtype="int64"),
        "tier": pd.Series([], dtype="str"),
        "previous_tier": pd.Series([], dtype="str"),
        "direction": pd.Series([], dtype="str"),
        "effective_at": pd.Series([], dtype="datetime64[us, UTC]"),
        "basis_value": pd.Series([], dtype="float64"),
    }
)


def empty_tier_history() -> pd.DataFrame:
    """A tier history with no rows and the right dtypes."""
    return _EMPTY.copy()


def tier_basis(
    rules: Rules, as_of: Any, orders: pd.DataFrame | None = None, ledger: pd.DataFrame | None = None
) -> pd.Series:
    """Spend (paid orders less their returned amounts) or points (earned net of reversals).

    Per customer in the window. The window is ``(as_of - window_days, as_of]``; ``orders`` is needed for the spend basis,
    ``ledger`` for the points basis.
    """
    at = instant(as_of, rules.program.timezone)
    start = at - pd.Timedelta(days=rules.tiers.window_days)
    if rules.tiers.basis == "spend":
        if orders is None:
            raise MissingColumnsError(["orders"], "tier basis 'spend'")
        o = orders
        mask = (o["ordered_at"] > start) & (o["ordered_at"] <= at)
        if "status" in o:
            mask &= o["status"] == "paid"
        o = o[mask.to_numpy()]
        spend = o["amount"]
        if "returned_amount" in o:  # a partial return takes its money out of the spend
            spend = spend - o["returned_amount"].fillna(0.0)
        return spend.groupby(o["customer_id"]).sum().astype("float64")
    if ledger is None:
        raise MissingColumnsError(["ledger"], "tier basis 'points'")
    led = ledger
    mask = (led["occurred_at"] > start) & (led["occurred_at"] <= at)
    mask &= (led["kind"] == "earn") | ((led["kind"] == "reverse") & (led["points"] < 0))
    return led[mask.to_numpy()].groupby("customer_id")["points"].sum().astype("float64")


def _last_per_customer(history: pd.DataFrame, at: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``history`` that are each customer's last change at or before ``at``."""
    eff = history["effective_at"]
    keep = np.flatnonzero((eff <= at).to_numpy())
    cid = history["customer_id"].to_numpy(dtype=np.int64)[keep]
    t = eff.to_numpy(dtype="datetime64[us]")[keep]
    order = np.lexsort((t, cid))
    c = cid[order]
    last = order[np.r_[c[1:] != c[:-1], True]] if len(c) else order
    return keep[last], cid[last]


def current_tiers(history: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """The last change per customer at or before ``as_of``: ``tier`` and ``since``, by customer."""
    rows, cid = _last_per_customer(history, instant(as_of))
    return pd.DataFrame(
        {
            "tier": pd.array(history["tier"].to_numpy(dtype=object)[rows], dtype="str"),
            "since": history["effective_at"].array[rows],
        },
        index=pd.Index(cid, name="customer_id"),
    )


def tier_changes(history: pd.DataFrame, basis: pd.Series, rules: Rules, as_of: Any) -> pd.DataFrame:
    """Upgrades and downgrades as of ``as_of``, as rows to append to the tier history.

    An upgrade happens as soon as the basis reaches a higher threshold. A downgrade happens
    when the basis falls below the current level, but not sooner than ``min_stay_days`` after
    the last change. Customers absent from ``basis`` have a basis of 0.

    Parameters
    ----------
    history : the tier history so far (:data:`TIER_HISTORY_COLUMNS`).
    basis : spend or points per customer (:func:`tier_basis`).

    Returns
    -------
    pandas.DataFrame
        New history rows, ``effective_at == as_of``; empty when nothing changes.
    """
    at = instant(as_of, rules.program.timezone)
    levels = rules.tiers.levels
    codes = np.array([lv.code for lv in levels], dtype=object)
    thresholds = np.array([lv.threshold for lv in levels], dtype=np.float64)
    rows, cur_ids = _last_per_customer(history, at)
    b_ids = basis.index.to_numpy(dtype=np.int64)
    ids = np.union1d(b_ids, cur_ids)
    value = np.zeros(len(ids), dtype=np.float64)
    value[np.searchsorted(ids, b_ids)] = basis.to_numpy(dtype=np.float64)
    target = np.searchsorted(thresholds, value + 1e-9, side="right") - 1
    at_cur = np.searchsorted(ids, cur_ids)
    position = {c: i for i, c in enumerate(codes)}
    now = np.zeros(len(ids), dtype=np.int64)
    now[at_cur] = [position.get(t, 0) for t in history["tier"].to_numpy(dtype=object)[rows]]
    stay = pd.Timedelta(days=rules.tiers.min_stay_days)
    since = history["effective_at"].to_numpy(dtype="datetime64[us]")[rows]
    stayed = np.ones(len(ids), dtype=bool)
    stayed[at_cur] = since <= (at - stay).tz_localize(None).to_datetime64()
    up = target > now
    change = up | ((target < now) & stayed)
    if not change.any():
        return empty_tier_history()
    n = int(change.sum())
    return pd.DataFrame(
        {
            "customer_id": ids[change],
            "tier": pd.array(codes[target[change]], dtype="str"),
            "previous_tier": pd.array(codes[now[change]], dtype="str"),
            "direction": pd.array(np.where(up[change], "up", "down").astype(object), dtype="str"),
            "effective_at": pd.Series([at] * n, dtype="datetime64[us, UTC]").array,
            "basis_value": value[change],
        }
    )


def tier_at(
    frame: pd.DataFrame, history: pd.DataFrame, rules: Rules, time_col: str = "ordered_at"
) -> pd.Series:
    """The tier code each row's customer had at ``frame[time_col]`` (aligned to ``frame``)."""
    base = rules.tiers.levels[0].code
    if history.empty or frame.empty:
        return pd.Series(base, index=frame.index, dtype="str")
    left = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(dtype=np.int64),
            "t": frame[time_col].to_numpy(dtype="datetime64[us]"),
            "pos": np.arange(len(frame)),
        }
    ).sort_values("t", kind="stable")
    right = pd.DataFrame(
        {
            "customer_id": history["customer_id"].to_numpy(dtype=np.int64),
            "t": history["effective_at"].to_numpy(dtype="datetime64[us]"),
            "tier": history["tier"].astype("str").to_numpy(dtype=object),
        }
    ).sort_values("t", kind="stable")
    joined = pd.merge_asof(left, right, on="t", by="customer_id", direction="backward")
    tiers = np.empty(len(frame), dtype=object)
    tiers[joined["pos"].to_numpy()] = joined["tier"].fillna(base).to_numpy(dtype=object)
    return pd.Series(tiers, index=frame.index, dtype="str")
