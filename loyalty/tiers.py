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

from loyalty.errors import MissingColumnsError
from loyalty.ledger import instant
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


def empty_tier_history() -> pd.DataFrame:
    """A tier history with no rows and the right dtypes."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="int64"),
            "tier": pd.Series([], dtype="str"),
            "previous_tier": pd.Series([], dtype="str"),
            "direction": pd.Series([], dtype="str"),
            "effective_at": pd.Series([], dtype="datetime64[us, UTC]"),
            "basis_value": pd.Series([], dtype="float64"),
        }
    )


def tier_basis(
    rules: Rules, as_of: Any, orders: pd.DataFrame | None = None, ledger: pd.DataFrame | None = None
) -> pd.Series:
    """Spend (paid orders) or points (earned net of reversals) per customer in the window.

    The window is ``(as_of - window_days, as_of]``; ``orders`` is needed for the spend basis,
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
        return o[mask.to_numpy()].groupby("customer_id")["amount"].sum().astype("float64")
    if ledger is None:
        raise MissingColumnsError(["ledger"], "tier basis 'points'")
    led = ledger
    mask = (led["occurred_at"] > start) & (led["occurred_at"] <= at)
    mask &= (led["kind"] == "earn") | ((led["kind"] == "reverse") & (led["points"] < 0))
    return led[mask.to_numpy()].groupby("customer_id")["points"].sum().astype("float64")


def current_tiers(history: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """The last change per customer at or before ``as_of``: ``tier`` and ``since``, by customer."""
    at = instant(as_of)
    h = history[(history["effective_at"] <= at).to_numpy()]
    h = h.sort_values(["customer_id", "effective_at"], kind="stable").drop_duplicates(
        "customer_id", keep="last"
    )
    return h.set_index("customer_id")[["tier", "effective_at"]].rename(
        columns={"effective_at": "since"}
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
    cur = current_tiers(history, at)
    customers = basis.index.union(cur.index)
    value = basis.reindex(customers, fill_value=0.0).to_numpy(dtype=np.float64)
    target = np.searchsorted(thresholds, value + 1e-9, side="right") - 1
    position = {c: i for i, c in enumerate(codes)}
    now_code = cur["tier"].reindex(customers).fillna(codes[0])
    now = now_code.map(position).fillna(0).to_numpy(dtype=np.int64)
    since = cur["since"].reindex(customers)
    stayed = (
        since.isna() | (since <= at - pd.Timedelta(days=rules.tiers.min_stay_days))
    ).to_numpy()
    up = target > now
    down = (target < now) & stayed
    change = up | down
    out = pd.DataFrame(
        {
            "customer_id": np.asarray(customers)[change].astype(np.int64),
            "tier": codes[target[change]].astype(str),
            "previous_tier": now_code.to_numpy()[change].astype(str),
            "direction": np.where(up[change], "up", "down").astype(str),
            "effective_at": pd.Series([at] * int(change.sum()), dtype="datetime64[us, UTC]"),
            "basis_value": value[change],
        }
    )
    return out.astype({"tier": "str", "previous_tier": "str", "direction": "str"})


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
