"""Triggers (C2): who a campaign's trigger fires for, as of an explicit moment, in batch.

Each trigger kind is a vectorised function of the base's frames and ``as_of``, returning one
row per firing: ``customer_id``, ``event_ref`` (the event or period that fired it) and
``event_at``. :func:`evaluate_trigger` adds the deterministic ``firing_key``
(``campaign:kind:customer:event_ref``); :func:`new_firings` drops the keys fired before, so a
rerun over the same day fires nothing new, and a run after a missed night catches up on the
events of the last ``catch_up_days`` days without firing any of them twice.

=====================  ===================================================  ======================
kind                   fires when (at ``as_of``)                            ``event_ref``
=====================  ===================================================  ======================
``deal_stage``         a deal is in the stage ``stage`` (of ``pipeline``)    ``deal<ID>:<stage>``
                       (``pipeline: leads``: a lead has that status)        ``lead<ID>:<status>``
``deal_stalled``       an open deal in ``stage`` had no activity (or was    ``deal<ID>:<stage>:
                       created) ``days`` days ago or more                   <last touch date>``
``birthday``           the birthday, in the customer's own time zone, is    ``<year>``
                       ``days`` (default 0) days after a local day of the
                       catch-up window; 29 Feb is 28 Feb in common years
``no_purchase``        the last paid order is ``days`` days old or more     ``after:<last date>``
``repeat_purchase``    with 2+ paid orders, the days since the last reach   ``after:<last date>``
                       ``cadence_factor`` × the customer's mean gap
``segment_entered``    a membership of ``segment`` opened in the window     ``entered:<instant>``
``segment_left``       a membership of ``segment`` closed in the window     ``left:<instant>``
``missing_contact``    an active customer has no valid ``field`` (email /   ``<field>:<YYYY-MM>``
                       phone): at most one reminder a month
``points_expiring``    at least ``min_points`` points expire within         ``<expiry date>``
                       ``days`` days (FIFO, :func:`loyalty.ledger.
                       expiry_schedule`, no future spending assumed)
``tier_reached``       a tier change up to ``tier`` in the window           ``<tier>:<instant>``
=====================  ===================================================  ======================

The window of the event kinds is ``(as_of - catch_up_days - 1 day, as_of]``. Local days are
those of each customer's ``timezone`` (the ``tz`` argument for people without one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from campaigns.definitions import Trigger
from crm.asof import as_instant, zone
from crm.columns import CUSTOMER_ID

__all__ = [
    "FIRING_COLUMNS",
    "evaluate_trigger",
    "local_days",
    "new_firings",
]

#: Columns of :func:`evaluate_trigger`'s result.
FIRING_COLUMNS = ("firing_key", "trigger", CUSTOMER_ID, "event_ref", "event_at")

_DAY_US = 86_400_000_000
Tables = Mapping[str, pd.DataFrame | None]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            CUSTOMER_ID: pd.Series([], dtype="int64"),
            "event_ref": pd.Series([], dtype="object"),
            "event_at": pd.Series([], dtype="datetime64[us, UTC]"),
        }
    )


def _table(tables: Tables, name: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    frame = tables.get(name)
    if frame is None:
        return None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"trigger needs column(s) {missing} of table {name!r}")
    return frame


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).astype("datetime64[us, UTC]")


def _active(customers: pd.DataFrame) -> pd.DataFrame:
    if "status" in customers.columns:
        return customers.loc[(customers["status"] == "active").to_numpy()]
    return customers


def local_days(timezones: pd.Series, as_of: pd.Timestamp, tz: str) -> np.ndarray:
    """The local calendar day of ``as_of`` for each person's time zone, as ``datetime64[D]``.

    One conversion per distinct zone (a few dozen), mapped onto the rows; an unknown or
    missing zone reads as ``tz``.
    """
    names = timezones.astype("object").where(timezones.notna(), tz).astype(str)
    codes, uniques = pd.factorize(names)
    days = np.empty(len(uniques), dtype="datetime64[D]")
    for i, name in enumerate(uniques):
        try:
            zi = zone(name)
        except ValueError:
            zi = zone(tz)
        days[i] = np.datetime64(as_of.tz_convert(zi).date(), "D")
    return days[codes]


def _frame(ids: Any, refs: Any, at: Any) -> pd.DataFrame:
    if isinstance(at, pd.Series | pd.Index):
        at = at.array  # no index to align on, and no object array of Timestamps
    when = pd.DatetimeIndex(pd.to_datetime(at, utc=True)).as_unit("us")
    return pd.DataFrame(
        {
            CUSTOMER_ID: np.asarray(ids, dtype="int64"),
            "event_ref": np.asarray(refs, dtype="object"),
            "event_at": when,
        }
    )


def _window(trigger: Trigger, as_of: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    return as_of - pd.Timedelta(days=trigger.catch_up_days + 1), as_of


# --------------------------------------------------------------------------- the kinds
def _deal_stage(trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str) -> pd.DataFrame:
    wanted = (trigger.stage or "").casefold()
    if (trigger.pipeline or "").casefold() == "leads":
        leads = _table(tables, "leads", ("lead_id", CUSTOMER_ID, "status", "created_at"))
        if leads is None:
            return _empty()
        rows = leads.loc[
            (leads["status"].astype(str).str.casefold() == wanted).to_numpy()
            & leads[CUSTOMER_ID].notna().to_numpy()
            & (_utc(leads["created_at"]) <= as_of).to_numpy()
        ]
        refs = "lead" + rows["lead_id"].astype("int64").astype(str) + ":" + wanted
        return _frame(rows[CUSTOMER_ID], refs, rows["created_at"])
    deals = _deals_in_stage(tables, wanted, trigger.pipeline, as_of)
    if deals is None:
        return _empty()
    refs = "deal" + deals["deal_id"].astype("int64").astype(str) + ":" + wanted
    return _frame(deals[CUSTOMER_ID], refs, deals["created_at"])


def _deals_in_stage(
    tables: Tables, stage: str, pipeline: str | None, as_of: pd.Timestamp
) -> pd.DataFrame | None:
    deals = _table(tables, "deals", ("deal_id", CUSTOMER_ID, "stage_id", "created_at"))
    stages = _table(tables, "pipeline_stages", ("stage_id", "pipeline_id", "name"))
    if deals is None or stages is None:
        return None
    chosen = stages.loc[(stages["name"].astype(str).str.casefold() == stage).to_numpy()]
    if pipeline is not None:
        pipes = _table(tables, "pipelines", ("pipeline_id", "name"))
        if pipes is None:
            return None
        ids = pipes.loc[
            (pipes["name"].astype(str).str.casefold() == pipeline.casefold()).to_numpy(),
            "pipeline_id",
        ]
        chosen = chosen.loc[chosen["pipeline_id"].isin(ids).to_numpy()]
    keep = (
        deals["stage_id"].isin(chosen["stage_id"]).to_numpy()
        & deals[CUSTOMER_ID].notna().to_numpy()
        & (_utc(deals["created_at"]) <= as_of).to_numpy()
    )
    return deals.loc[keep]


def _deal_stalled(trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str) -> pd.DataFrame:
    wanted = (trigger.stage or "").casefold()
    deals = _deals_in_stage(tables, wanted, trigger.pipeline, as_of)
    if deals is None:
        return _empty()
    if "status" in deals.columns:
        deals = deals.loc[(deals["status"] == "open").to_numpy()]
    touch = _utc(deals["created_at"]).set_axis(deals["deal_id"].to_numpy())
    activities = tables.get("activities")
    if activities is not None and "deal_id" in activities.columns and len(activities):
        acts = activities.loc[activities["deal_id"].notna().to_numpy()]
        at = _utc(acts["occurred_at"])
        acts = acts.loc[(at <= as_of).to_numpy()]
        last = _utc(acts["occurred_at"]).groupby(acts["deal_id"].astype("int64").to_numpy()).max()
        touch = pd.concat([touch, last.reindex(touch.index)], axis=1).max(axis=1)
    stalled = (touch <= as_of - pd.Timedelta(days=trigger.days or 0)).to_numpy()
    rows = deals.loc[stalled]
    last_touch = touch[stalled]
    refs = (
        "deal"
        + rows["deal_id"].astype("int64").astype(str).to_numpy()
        + f":{wanted}:"
        + last_touch.dt.strftime("%Y-%m-%d").to_numpy()
    )
    return _frame(rows[CUSTOMER_ID], refs, last_touch)


def _birthday(trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str) -> pd.DataFrame:
    customers = _table(tables, "customers", (CUSTOMER_ID, "birth_date"))
    if customers is None:
        return _empty()
    c = _active(customers)
    c = c.loc[c["birth_date"].notna().to_numpy()]
    born = pd.to_datetime(c["birth_date"])
    month, day = born.dt.month.to_numpy(), born.dt.day.to_numpy()
    zones = c["timezone"] if "timezone" in c.columns else pd.Series(None, index=c.index)
    today = local_days(zones, as_of, tz)
    ids = c[CUSTOMER_ID].to_numpy(dtype="int64")
    parts = []
    for back in range(trigger.catch_up_days + 1):  # a handful of days, not customers
        target = today - np.timedelta64(back, "D") + np.timedelta64(trigger.days or 0, "D")
        t = pd.DatetimeIndex(target)
        leap = t.is_leap_year
        bday = np.where((month == 2) & (day == 29) & ~leap, 28, day)
        hit = (t.month.to_numpy() == month) & (t.day.to_numpy() == bday)
        parts.append(_frame(ids[hit], t.year.to_numpy()[hit].astype(str), t[hit]))
    out = pd.concat(parts, ignore_index=True)
    return out.drop_duplicates([CUSTOMER_ID, "event_ref"])


def _paid_orders(tables: Tables, as_of: pd.Timestamp) -> pd.DataFrame | None:
    orders = _table(tables, "orders", (CUSTOMER_ID, "ordered_at"))
    if orders is None:
        return None
    at = _utc(orders["ordered_at"])
    keep = (at <= as_of).to_numpy()
    if "status" in orders.columns:
        keep = keep & (orders["status"] == "paid").to_numpy()
    return pd.DataFrame({CUSTOMER_ID: orders[CUSTOMER_ID].to_numpy()[keep], "at": at[keep].array})


def _last_orders(paid: pd.DataFrame) -> pd.DataFrame:
    """First and last paid order and the count per customer (integer microseconds inside)."""
    us = paid["at"].array.as_unit("us").asi8  # type: ignore[attr-defined]
    ids = paid[CUSTOMER_ID].to_numpy(dtype="int64")
    order = np.argsort(ids, kind="stable")
    ids, us = ids[order], us[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    first, last = np.minimum.reduceat(us, starts), np.maximum.reduceat(us, starts)
    utc = "datetime64[us, UTC]"
    return pd.DataFrame(
        {
            "first": pd.DatetimeIndex(first.astype("datetime64[us]")).tz_localize("UTC"),
            "last": pd.DatetimeIndex(last.astype("datetime64[us]")).tz_localize("UTC"),
            "n": ends - starts,
        },
        index=pd.Index(ids[starts], name=CUSTOMER_ID),
    ).astype({"first": utc, "last": utc})


def _day_text(when: pd.Series) -> np.ndarray:
    """``YYYY-MM-DD`` (UTC) of each instant, formatting each distinct day once."""
    days = when.array.as_unit("us").asi8 // _DAY_US  # type: ignore[attr-defined]
    uniq, inverse = np.unique(days, return_inverse=True)
    text = pd.DatetimeIndex((uniq * _DAY_US).astype("datetime64[us]")).strftime("%Y-%m-%d")
    return np.asarray(text, dtype=object)[inverse]


def _lapse_frame(rows: pd.DataFrame) -> pd.DataFrame:
    last = rows["last"]
    refs = "after:" + _day_text(last).astype(object)
    return _frame(rows.index.to_numpy(), refs, last)


def _no_purchase(trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str) -> pd.DataFrame:
    paid = _paid_orders(tables, as_of)
    if paid is None or paid.empty:
        return _empty()
    last = _last_orders(paid)
    return _lapse_frame(last.loc[last["last"] <= as_of - pd.Timedelta(days=trigger.days or 0)])


def _repeat_purchase(
    trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str
) -> pd.DataFrame:
    paid = _paid_orders(tables, as_of)
    if paid is None or paid.empty:
        return _empty()
    last = _last_orders(paid)
    last = last.loc[last["n"] >= 2]
    gap = (last["last"] - last["first"]) / (last["n"] - 1)
    since = as_of - last["last"]
    due = (since >= gap * trigger.cadence_factor) & (gap > pd.Timedelta(0))
    return _lapse_frame(last.loc[due])


def _segment(
    trigger: Trigger, tables: Tables, as_of: pd.Timestamp, column: str, label: str
) -> pd.DataFrame:
    members = _table(tables, "segment_memberships", ("segment", CUSTOMER_ID, "entered_at"))
    if members is None:
        return _empty()
    lo, hi = _window(trigger, as_of)
    at = _utc(members[column])
    keep = (members["segment"] == trigger.segment).to_numpy() & ((at > lo) & (at <= hi)).to_numpy()
    rows = members.loc[keep]
    when = at.loc[keep]
    refs = f"{label}:" + when.dt.strftime("%Y-%m-%dT%H:%M:%S")
    return _frame(rows[CUSTOMER_ID], refs.to_numpy(), when)


def _segment_entered(
    trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str
) -> pd.DataFrame:
    return _segment(trigger, tables, as_of, "entered_at", "entered")


def _segment_left(trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str) -> pd.DataFrame:
    return _segment(trigger, tables, as_of, "left_at", "left")


def _missing_contact(
    trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str
) -> pd.DataFrame:
    customers = _table(tables, "customers", (CUSTOMER_ID,))
    if customers is None:
        return _empty()
    c = _active(customers)
    points = tables.get("contact_points")
    have = pd.Series([], dtype="int64")
    if points is not None and len(points):
        valid = points["is_valid"].fillna(True).astype(bool) if "is_valid" in points else True
        have = points.loc[((points["kind"] == trigger.field) & valid).to_numpy(), CUSTOMER_ID]
    rows = c.loc[~c[CUSTOMER_ID].isin(have).to_numpy()]
    period = f"{trigger.field}:{as_of.tz_convert(zone(tz)):%Y-%m}"
    return _frame(rows[CUSTOMER_ID], [period] * len(rows), [pd.NaT] * len(rows))


def _points_expiring(
    trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str
) -> pd.DataFrame:
    from loyalty.ledger import expiry_schedule

    ledger = tables.get("loyalty_ledger")
    if ledger is None or ledger.empty:
        return _empty()
    due = expiry_schedule(
        ledger, until=as_of + pd.Timedelta(days=trigger.days or 0), debits_until=as_of
    )
    due = due.loc[(_utc(due["expires_at"]) > as_of).to_numpy()]
    per = (
        due.assign(day=_utc(due["expires_at"]).dt.strftime("%Y-%m-%d"))
        .groupby([CUSTOMER_ID, "day"], as_index=False)
        .agg(points=("remaining", "sum"), at=("expires_at", "min"))
    )
    per = per.loc[(per["points"] >= trigger.min_points).to_numpy()]
    first = per.sort_values([CUSTOMER_ID, "at"]).drop_duplicates(CUSTOMER_ID)
    return _frame(first[CUSTOMER_ID], first["day"].to_numpy(), first["at"])


def _tier_reached(trigger: Trigger, tables: Tables, as_of: pd.Timestamp, tz: str) -> pd.DataFrame:
    history = _table(tables, "loyalty_tier_history", (CUSTOMER_ID, "tier", "effective_at"))
    if history is None:
        return _empty()
    lo, hi = _window(trigger, as_of)
    at = _utc(history["effective_at"])
    keep = (
        history["tier"].astype(str).str.casefold() == (trigger.tier or "").casefold()
    ).to_numpy()
    keep = keep & ((at > lo) & (at <= hi)).to_numpy()
    if "direction" in history.columns:
        keep = keep & (history["direction"] == "up").to_numpy()
    rows = history.loc[keep]
    when = at.loc[keep]
    refs = f"{trigger.tier}:" + when.dt.strftime("%Y-%m-%dT%H:%M:%S")
    return _frame(rows[CUSTOMER_ID], refs.to_numpy(), when)


_KINDS: dict[str, Callable[[Trigger, Tables, pd.Timestamp, str], pd.DataFrame]] = {
    "deal_stage": _deal_stage,
    "deal_stalled": _deal_stalled,
    "birthday": _birthday,
    "no_purchase": _no_purchase,
    "repeat_purchase": _repeat_purchase,
    "segment_entered": _segment_entered,
    "segment_left": _segment_left,
    "missing_contact": _missing_contact,
    "points_expiring": _points_expiring,
    "tier_reached": _tier_reached,
}


def evaluate_trigger(
    trigger: Trigger, campaign_id: str, tables: Tables, as_of: Any, tz: str = "UTC"
) -> pd.DataFrame:
    """Every firing of ``trigger`` at ``as_of``, with its deterministic ``firing_key``.

    Parameters
    ----------
    trigger : Trigger
        The campaign's trigger.
    campaign_id : str
        Part of the key: two campaigns on the same event fire separately.
    tables : mapping of table name to DataFrame
        The frames the kind reads (named as the tables: ``customers``, ``orders``, ``deals``,
        ``pipeline_stages``, ``pipelines``, ``activities``, ``leads``, ``segment_memberships``,
        ``contact_points``, ``loyalty_ledger``, ``loyalty_tier_history``).
    as_of : date, datetime or text
        The moment of the run (:func:`crm.asof.as_instant`, in ``tz``).
    tz : str
        The program's time zone, for people without one and for bare dates.

    Returns
    -------
    DataFrame
        :data:`FIRING_COLUMNS`, one row per (customer, event), sorted by key.
    """
    at = as_instant(as_of, tz)
    found = _KINDS[trigger.kind](trigger, tables, at, tz)
    found = found.drop_duplicates([CUSTOMER_ID, "event_ref"])
    key = (
        f"{campaign_id}:{trigger.kind}:"
        + found[CUSTOMER_ID].astype("int64").astype(str)
        + ":"
        + found["event_ref"].astype(str)
    )
    out = found.assign(firing_key=key.to_numpy(), trigger=trigger.kind)
    return out[list(FIRING_COLUMNS)].sort_values("firing_key", ignore_index=True)


def new_firings(firings: pd.DataFrame, fired_before: pd.Series) -> pd.DataFrame:
    """The firings whose key is not in ``fired_before`` (the keys recorded by earlier runs)."""
    if firings.empty or len(fired_before) == 0:
        return firings
    return firings.loc[~firings["firing_key"].isin(fired_before).to_numpy()].reset_index(drop=True)
