"""Loyalty KPIs per customer for segments (S5): repeat share, points liability, referral flag."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crm.measures import repeat_share
from loyalty.errors import MissingColumnsError
from loyalty.lots import balances
from loyalty.rules import Rules
from loyalty.tiers import current_tiers

__all__ = ["customer_kpis"]


def customer_kpis(
    orders: pd.DataFrame,
    ledger: pd.DataFrame,
    rules: Rules,
    as_of: Any,
    referrals: pd.DataFrame | None = None,
    tier_history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer with the loyalty figures segments are built on.

    Parameters
    ----------
    orders : ``customer_id, ordered_at`` and optionally ``status`` (only ``paid`` count).
    ledger : the points ledger.
    referrals : ``customer_id`` (friend) and ``referrer_id``, optional.
    tier_history : optional; adds the current ``tier``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``: ``paid_orders``, ``repeat_orders`` (all but the first),
        ``loyalty_pct`` (share of repeat purchases in %, 0 without orders), ``balance``,
        ``available``, ``pending``, ``expiring``, ``liability`` (money), ``referred_friends``,
        ``friends_to_buy`` (referred friends without a paid order yet) and
        ``has_friends_to_buy`` (the flag for referral offers).

    Examples
    --------
    A customer with 4 paid orders has 3 repeat orders: a loyalty percentage of 75.
    """
    for frame, cols, name in (
        (orders, ["customer_id", "ordered_at"], "orders"),
        (ledger, ["customer_id", "points"], "ledger"),
    ):
        missing = [c for c in cols if c not in frame]
        if missing:
            raise MissingColumnsError(missing, name)
    at = pd.Timestamp(as_of).tz_convert("UTC")
    o = orders[(orders["ordered_at"] <= at).to_numpy()]
    if "status" in o:
        o = o[(o["status"] == "paid").to_numpy()]
    paid = o.groupby("customer_id").size().rename("paid_orders")
    bal = balances(ledger, at, point_value=rules.program.point_value)
    ids = paid.index.union(bal.index)
    ref = (
        referrals
        if referrals is not None
        else pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype="int64"),
                "referrer_id": pd.Series([], dtype="int64"),
            }
        )
    )
    ids = ids.union(pd.Index(ref["referrer_id"].unique()))
    out = pd.DataFrame(index=pd.Index(ids, name="customer_id"))
    out["paid_orders"] = paid.reindex(ids, fill_value=0).astype("int64")
    out["repeat_orders"] = np.maximum(out["paid_orders"] - 1, 0)
    out["loyalty_pct"] = 100.0 * repeat_share(out["paid_orders"])
    for col in ("balance", "available", "pending", "expiring"):
        out[col] = bal[col].reindex(ids, fill_value=0).astype("int64")
    out["liability"] = bal["liability"].reindex(ids, fill_value=0.0).astype("float64")
    buyers = set(paid.index)
    friends = ref.drop_duplicates(["customer_id", "referrer_id"])
    waiting = friends[~friends["customer_id"].isin(buyers)]
    out["referred_friends"] = (
        friends.groupby("referrer_id").size().reindex(ids, fill_value=0).astype("int64")
    )
    out["friends_to_buy"] = (
        waiting.groupby("referrer_id").size().reindex(ids, fill_value=0).astype("int64")
    )
    out["has_friends_to_buy"] = out["friends_to_buy"] > 0
    if tier_history is not None:
        cur = current_tiers(tier_history, at)["tier"]
        out["tier"] = cur.reindex(ids).fillna(rules.tiers.levels[0].code).astype("str")
    return out
