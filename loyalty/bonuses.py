"""Bonuses that are not purchase points (L1, L3): welcome, birthday, activity and referrals.

Each function returns ledger entries with deterministic idempotency keys, so the daily run
may look back over several days (to catch late data) and a rerun adds nothing:

========================  ==========================================  =========================
bonus                     key                                         when
========================  ==========================================  =========================
welcome                   ``welcome:<customer>``                      member created in window
birthday                  ``birthday:<customer>:<year>``              birthday in the window
activity                  ``activity:<event>`` / ``activity:<kind>:<customer>``  event (once kinds)
referral, both sides      ``referral:referrer:<friend>``,             the friend's first paid order
                          ``referral:friend:<friend>``
========================  ==========================================  =========================

Referral entries carry the friend's order as their source, so returning that order takes
them back like any other grant (:func:`loyalty.ledger.reversal_entries`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loyalty.entries import empty_ledger, instant, make_entries
from loyalty.errors import require_columns
from loyalty.rules import Rules

__all__ = [
    "activity_entries",
    "birthday_entries",
    "referral_entries",
    "referral_keys",
    "welcome_entries",
]


def welcome_entries(customers: pd.DataFrame, rules: Rules, since: Any, as_of: Any) -> pd.DataFrame:
    """Welcome points for loyalty members created in ``(since, as_of]``.

    Parameters
    ----------
    customers : frame with ``customer_id, created_at`` and optionally ``is_loyalty_member``
        (only members get the bonus) and ``status`` (only ``active`` records).
    """
    require_columns(customers, ["customer_id", "created_at"], "customers")
    points = rules.bonuses.welcome
    if points <= 0:
        return empty_ledger()
    tz = rules.program.timezone
    lo, hi = instant(since, tz), instant(as_of, tz)
    mask = (customers["created_at"] > lo) & (customers["created_at"] <= hi)
    if "is_loyalty_member" in customers:
        mask &= customers["is_loyalty_member"].fillna(False).astype(bool)
    if "status" in customers:
        mask &= customers["status"] == "active"
    c = customers[mask.to_numpy()]
    return make_entries(
        key="welcome:" + c["customer_id"].astype("int64").astype("str"),
        customer_id=c["customer_id"],
        kind="earn",
        points=points,
        reason="welcome",
        rule="welcome",
        occurred_at=c["created_at"],
        validity_days=rules.program.validity_days,
        source_kind="customer",
        source_id=c["customer_id"].astype("int64").astype("str"),
    )


def birthday_entries(customers: pd.DataFrame, rules: Rules, since: Any, as_of: Any) -> pd.DataFrame:
    """Birthday points for birthdays whose local day starts in ``[since, as_of)``.

    For the daily run (``since`` = local midnight, ``as_of`` = the next one) that is the day.

    Dates are those of the program's time zone; someone born on 29 February celebrates on
    28 February in other years. The entry is dated at local midnight of the birthday.
    """
    require_columns(customers, ["customer_id", "birth_date"], "customers")
    points = rules.bonuses.birthday
    if points <= 0:
        return empty_ledger()
    tz = rules.program.timezone
    lo = instant(since, tz).tz_convert(tz).tz_localize(None)
    hi = instant(as_of, tz).tz_convert(tz).tz_localize(None)
    c = customers[customers["birth_date"].notna().to_numpy()]
    if "is_loyalty_member" in c:
        c = c[c["is_loyalty_member"].fillna(False).astype(bool).to_numpy()]
    if "status" in c:
        c = c[(c["status"] == "active").to_numpy()]
    born = pd.to_datetime(c["birth_date"])
    month = born.dt.month.to_numpy()
    day = born.dt.day.to_numpy()
    ids = c["customer_id"].to_numpy(dtype=np.int64)
    hits = []
    for year in range(lo.year, hi.year + 1):  # at most two years for a daily window
        leap = pd.Timestamp(year=year, month=1, day=1).is_leap_year
        d = np.where((month == 2) & (day == 29) & (not leap), 28, day)
        dates = pd.to_datetime(
            pd.DataFrame({"year": year, "month": month, "day": d}), errors="coerce"
        )
        mask = ((dates >= lo) & (dates < hi)).to_numpy()
        hits.append(pd.DataFrame({"customer_id": ids[mask], "year": year, "date": dates[mask]}))
    h = pd.concat(hits, ignore_index=True)
    if h.empty:
        return empty_ledger()
    when = h["date"].dt.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    cid = h["customer_id"].astype("int64").astype("str")
    return make_entries(
        key="birthday:" + cid + ":" + h["year"].astype("str"),
        customer_id=h["customer_id"],
        kind="earn",
        points=points,
        reason="birthday",
        rule="birthday",
        occurred_at=when.dt.tz_convert("UTC"),
        validity_days=rules.program.validity_days,
        source_kind="customer",
        source_id=cid,
    )


def activity_entries(events: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Points for activities (review, app install, profile completed, social …).

    Parameters
    ----------
    events : frame with ``event_id, customer_id, kind, occurred_at``; kinds without a rule
        earn nothing. Kinds marked ``once`` earn for the customer's first such event only.
    """
    require_columns(events, ["event_id", "customer_id", "kind", "occurred_at"], "events")
    if not rules.activity or events.empty:
        return empty_ledger()
    e = events[events["kind"].isin(list(rules.activity)).to_numpy()]
    e = e.sort_values(["occurred_at", "event_id"], kind="stable")
    once_kinds = [k for k, a in rules.activity.items() if a.once]
    once = e["kind"].isin(once_kinds).to_numpy()
    first = ~e.duplicated(["customer_id", "kind"]).to_numpy()
    e = e[~once | first]
    once = e["kind"].isin(once_kinds)
    cid = e["customer_id"].astype("int64").astype("str")
    eid = e["event_id"].astype("str")
    key = ("activity:" + e["kind"].astype("str") + ":" + cid).where(once, "activity:" + eid)
    pts = e["kind"].map({k: a.points for k, a in rules.activity.items()}).astype("int64")
    return make_entries(
        key=key,
        customer_id=e["customer_id"],
        kind="earn",
        points=pts,
        reason="activity_" + e["kind"].astype("str"),
        rule=e["kind"].astype("str"),
        occurred_at=e["occurred_at"],
        validity_days=rules.program.validity_days,
        source_kind="activity",
        source_id=eid,
    )


def referral_keys(referrals: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """The idempotency keys :func:`referral_entries` gives each referred friend.

    A friend all of whose keys are in the ledger earns nothing more: a day run reads only
    the referrals still open (and their customers' ledgers), not every friend's.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (the friend) and ``key``, one row per side that earns points.
    """
    ref = rules.referral
    friends = np.unique(referrals["customer_id"].to_numpy(dtype=np.int64))
    text = friends.astype(str).astype(object)
    sides = [
        side
        for side, pts in (("referrer", ref.referrer_points), ("friend", ref.friend_points))
        if pts > 0
    ]
    return pd.DataFrame(
        {
            "customer_id": np.tile(friends, len(sides)),
            "key": np.concatenate([f"referral:{side}:" + text for side in sides])
            if sides
            else np.zeros(0, dtype=object),
        }
    )


def referral_entries(
    referrals: pd.DataFrame,
    orders: pd.DataFrame,
    rules: Rules,
    as_of: Any,
    since: Any | None = None,
) -> pd.DataFrame:
    """Rewards for both sides once the referred friend's first order is paid.

    Parameters
    ----------
    referrals : frame with ``customer_id`` (the friend) and ``referrer_id``.
    orders : frame with ``order_id, customer_id, ordered_at, amount, status``.
    as_of : orders after this instant are not considered.
    since : the points are dated at the friend's order, but never before this instant
        (default ``as_of - hold_days``). An order placed earlier can only become the first
        one late (an earlier order was returned, or the order arrived late): its points are
        dated when they are granted, never back-dated behind expiries already booked.

    Returns
    -------
    pandas.DataFrame
        Two entries per friend whose first paid order reaches ``min_order_amount``, sourced
        from that order (so its return takes them back) and pending for the same hold.
    """
    require_columns(referrals, ["customer_id", "referrer_id"], "referrals")
    require_columns(orders, ["order_id", "customer_id", "ordered_at", "amount"], "orders")
    ref = rules.referral
    if ref.referrer_points <= 0 and ref.friend_points <= 0:
        return empty_ledger()
    tz = rules.program.timezone
    at = instant(as_of, tz)
    hold = pd.Timedelta(days=rules.program.hold_days)
    lo = instant(since, tz) if since is not None else at - hold
    r = referrals[referrals["customer_id"] != referrals["referrer_id"]].drop_duplicates(
        "customer_id"
    )
    o = orders[
        (orders["customer_id"].isin(r["customer_id"]) & (orders["ordered_at"] <= at)).to_numpy()
    ]
    if "status" in o:
        o = o[(o["status"] == "paid").to_numpy()]
    first = o.sort_values(["ordered_at", "order_id"], kind="stable").drop_duplicates("customer_id")
    first = first[(first["amount"] >= ref.min_order_amount).to_numpy()]
    m = first.merge(r[["customer_id", "referrer_id"]], on="customer_id")
    if m.empty:
        return empty_ledger()
    when = m["ordered_at"].where(m["ordered_at"] >= lo, lo)
    friend = m["customer_id"].astype("int64").astype("str")
    oid = m["order_id"].astype("int64").astype("str")
    parts = []
    for side, who, pts in (
        ("referrer", m["referrer_id"], ref.referrer_points),
        ("friend", m["customer_id"], ref.friend_points),
    ):
        if pts > 0:
            parts.append(
                make_entries(
                    key=f"referral:{side}:" + friend,
                    customer_id=who,
                    kind="earn",
                    points=pts,
                    reason=f"referral_{side}",
                    rule="referral",
                    occurred_at=when,
                    available_at=when + hold,
                    validity_days=rules.program.validity_days,
                    source_kind="order",
                    source_id=oid,
                )
            )
    return pd.concat(parts, ignore_index=True)
