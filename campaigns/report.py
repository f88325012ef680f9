"""Campaign report (C7): responses joined back, conversion and revenue, uplift against the holdout.

:func:`campaign_report` takes one campaign's queued messages, its exclusions (the holdout among
them), the marketing events and the orders, and returns one row per variant and channel (plus
the holdout) with the audience, sent, delivered, opened, clicked, unsubscribed, converted
(a paid order within ``attribution_days`` after the message was scheduled; for the holdout,
after the run's ``as_of``), revenue, and the rates. :func:`uplift` compares the conversion of
the treated with the holdout's.

The confidence interval
-----------------------
Uplift is the difference of two independent proportions, ``d = p_t - p_h`` with
``p = conversions / people``. Its 95% interval is the Wald interval
``d ± 1.959964 × sqrt(p_t (1 - p_t) / n_t + p_h (1 - p_h) / n_h)`` (normal approximation;
sound when each group has at least about ten conversions and ten non-conversions; the report
says so when that does not hold). Example: 120 of 1,000 treated and 100 of 1,000 held out
converted: ``d = 0.02``, ``se = sqrt(0.12 × 0.88 / 1000 + 0.10 × 0.90 / 1000) = 0.013986``,
interval ``0.02 ± 0.027412 = [-0.00741, 0.04741]``: no significant effect at 95%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.columns import CUSTOMER_ID

__all__ = ["Z95", "Uplift", "campaign_report", "conversions", "uplift", "variant_uplift"]

#: The two-sided 95% quantile of the standard normal distribution.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Uplift:
    """Treated minus holdout conversion rate with its 95% Wald interval."""

    treated_rate: float
    holdout_rate: float
    difference: float
    low: float
    high: float
    reliable: bool  # at least 10 conversions and 10 non-conversions in each group
    method: str = "difference of two proportions, Wald 95% interval (normal approximation)"

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0


def uplift(treated_n: int, treated_conv: int, holdout_n: int, holdout_conv: int) -> Uplift:
    """Conversion uplift of the treated over the holdout with a 95% interval (module docstring).

    Examples
    --------
    >>> u = uplift(1000, 120, 1000, 100)
    >>> round(u.difference, 5), round(u.low, 5), round(u.high, 5)
    (0.02, -0.00741, 0.04741)
    """
    if treated_n <= 0 or holdout_n <= 0:
        raise ValueError("uplift needs at least one treated and one held-out person")
    pt, ph = treated_conv / treated_n, holdout_conv / holdout_n
    se = math.sqrt(pt * (1 - pt) / treated_n + ph * (1 - ph) / holdout_n)
    d = pt - ph
    reliable = min(treated_conv, treated_n - treated_conv, holdout_conv, holdout_n - holdout_conv)
    return Uplift(pt, ph, d, d - Z95 * se, d + Z95 * se, reliable >= 10)


def conversions(people: pd.DataFrame, orders: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Per person: did they place a paid order within ``window_days`` after ``start``, and for how much.

    Parameters
    ----------
    people : DataFrame
        ``customer_id`` and ``start`` (UTC instant: when the message was scheduled).
    orders : DataFrame
        ``customer_id``, ``ordered_at``, ``amount`` (and ``status``: only ``paid`` counts).

    Returns
    -------
    DataFrame
        ``people`` with ``converted`` (bool) and ``revenue`` (float) added.
    """
    paid = orders
    if "status" in paid.columns:
        paid = paid.loc[(paid["status"] == "paid").to_numpy()]
    start = pd.to_datetime(people["start"], utc=True)
    joined = pd.DataFrame(
        {  # .array keeps the instants aware (to_numpy() would give objects, floats when empty)
            CUSTOMER_ID: people[CUSTOMER_ID].to_numpy(),
            "start": start.array,
            "row": np.arange(len(people)),
        }
    ).merge(
        pd.DataFrame(
            {
                CUSTOMER_ID: paid[CUSTOMER_ID].to_numpy(),
                "at": pd.to_datetime(paid["ordered_at"], utc=True).array,
                "amount": pd.to_numeric(paid["amount"]).to_numpy(dtype=float),
            }
        ),
        on=CUSTOMER_ID,
    )
    inside = (joined["at"] > joined["start"]) & (
        joined["at"] <= joined["start"] + pd.Timedelta(days=window_days)
    )
    hit = joined.loc[inside.to_numpy()]
    revenue = hit.groupby("row")["amount"].sum().reindex(range(len(people)), fill_value=0.0)
    out = people.copy()
    out["converted"] = revenue.to_numpy() > 0
    out["revenue"] = revenue.to_numpy()
    return out


def _events(events: pd.DataFrame | None, outbox: pd.DataFrame) -> pd.DataFrame:
    kinds = ("delivered", "opened", "clicked", "unsubscribed", "bounced")
    flags = pd.DataFrame(False, index=outbox.index, columns=list(kinds))
    if events is None or events.empty:
        return flags
    ev = events
    if "campaign_id" in ev.columns:
        ev = ev.loc[ev["campaign_id"].isin(outbox["campaign_id"].unique()).to_numpy()]
    key = ["campaign_id", CUSTOMER_ID, "channel"]
    for kind in kinds:
        hit = ev.loc[(ev["kind"] == kind).to_numpy(), key].drop_duplicates()
        hit = hit.assign(_hit=True)
        merged = outbox[key].merge(hit, on=key, how="left")
        flags[kind] = merged["_hit"].fillna(False).astype(bool).to_numpy()
    return flags


def campaign_report(
    outbox: pd.DataFrame,
    exclusions: pd.DataFrame,
    runs: pd.DataFrame,
    orders: pd.DataFrame,
    events: pd.DataFrame | None = None,
    attribution_days: int = 14,
) -> tuple[pd.DataFrame, pd.DataFrame, Uplift | None]:
    """The report of one campaign: per variant and channel, exclusions by reason, the uplift.

    Parameters
    ----------
    outbox : DataFrame
        The campaign's messages: ``campaign_id``, ``run_id``, ``customer_id``, ``channel``,
        ``variant``, ``scheduled_for``.
    exclusions : DataFrame
        ``run_id``, ``customer_id``, ``reason``.
    runs : DataFrame
        ``run_id``, ``as_of``, ``audience`` (the holdout's start is its run's ``as_of``).
    orders, events : DataFrame
        Paid orders and marketing events (``campaign_id``, ``customer_id``, ``channel``,
        ``kind``) for the responses.
    attribution_days : int

    Returns
    -------
    (table, reasons, uplift)
        ``table``: one row per variant and channel and one ``holdout`` row: ``audience``,
        ``sent``, ``delivered``, ``opened``, ``clicked``, ``unsubscribed``, ``converted``,
        ``revenue`` and the rates ``open_rate``, ``click_rate``, ``conversion_rate``;
        ``reasons``: exclusions per reason; ``uplift``: treated vs holdout, or ``None``
        without a holdout.
    """
    sent = conversions(outbox.assign(start=outbox["scheduled_for"]), orders, attribution_days).join(
        _events(events, outbox)
    )
    held = exclusions.loc[(exclusions["reason"] == "holdout").to_numpy()]
    held = held.merge(runs[["run_id", "as_of"]], on="run_id").rename(columns={"as_of": "start"})
    held = conversions(held, orders, attribution_days)
    group = sent.groupby(["variant", "channel"], dropna=False)
    table = group.agg(
        sent=(CUSTOMER_ID, "size"),
        delivered=("delivered", "sum"),
        opened=("opened", "sum"),
        clicked=("clicked", "sum"),
        unsubscribed=("unsubscribed", "sum"),
        converted=("converted", "sum"),
        revenue=("revenue", "sum"),
    ).reset_index()
    if len(held):
        table = pd.concat(
            [
                table,
                pd.DataFrame(
                    {
                        "variant": ["holdout"],
                        "channel": ["-"],
                        "sent": [0],
                        "delivered": [0],
                        "opened": [0],
                        "clicked": [0],
                        "unsubscribed": [0],
                        "converted": [int(held["converted"].sum())],
                        "revenue": [float(held["revenue"].sum())],
                    }
                ),
            ],
            ignore_index=True,
        )
    people = table["sent"].where(table["variant"] != "holdout", len(held))
    table.insert(2, "audience", people.astype("int64"))
    safe = people.where(people > 0)
    table["open_rate"] = (table["opened"] / safe).fillna(0.0)
    table["click_rate"] = (table["clicked"] / safe).fillna(0.0)
    table["conversion_rate"] = (table["converted"] / safe).fillna(0.0)
    reasons = exclusions["reason"].value_counts().rename_axis("reason").rename("customers")
    result: Uplift | None = None
    if len(held) and len(sent):
        result = uplift(
            len(sent), int(sent["converted"].sum()), len(held), int(held["converted"].sum())
        )
    return table, reasons.reset_index(), result


def variant_uplift(table: pd.DataFrame) -> pd.DataFrame:
    """One row per variant (channels together) and one ``all`` row: its conversion against
    the holdout's, the uplift and its 95% interval (:func:`uplift`); what a notebook plots.

    Parameters
    ----------
    table : DataFrame
        The first frame :func:`campaign_report` returns (per variant and channel, and the
        ``holdout`` row).

    Returns
    -------
    DataFrame
        ``variant``, ``sent``, ``converted``, ``conversion_rate``, ``holdout``,
        ``holdout_converted``, ``holdout_rate``, ``uplift``, ``low``, ``high``,
        ``significant``, ``reliable``; empty (those columns) without a holdout or a message.

    Examples
    --------
    >>> table = pd.DataFrame({"variant": ["A", "B", "holdout"], "channel": ["sms", "sms", "-"],
    ...                       "audience": [1000, 1000, 1000], "converted": [120, 100, 100]})
    >>> variant_uplift(table)[["variant", "uplift", "low", "high"]].round(5).values.tolist()
    [['A', 0.02, -0.00741, 0.04741], ['B', 0.0, -0.0263, 0.0263], ['all', 0.01, -0.0131, 0.0331]]
    """
    columns = [
        *("variant", "sent", "converted", "conversion_rate", "holdout", "holdout_converted"),
        *("holdout_rate", "uplift", "low", "high", "significant", "reliable"),
    ]
    is_held = (table["variant"] == "holdout").to_numpy()
    held, treated = table.loc[is_held], table.loc[~is_held]
    n_held = int(held["audience"].sum())
    if n_held == 0 or treated.empty:
        return pd.DataFrame(columns=columns)
    conv_held = int(held["converted"].sum())
    per = treated.groupby("variant", sort=True)[["audience", "converted"]].sum()
    per.loc["all"] = per.sum()
    rows = []
    for variant, (n, conv) in per[["audience", "converted"]].astype("int64").iterrows():
        if n == 0:
            continue
        u = uplift(int(n), int(conv), n_held, conv_held)
        rows.append(
            {
                "variant": variant,
                "sent": int(n),
                "converted": int(conv),
                "conversion_rate": u.treated_rate,
                "holdout": n_held,
                "holdout_converted": conv_held,
                "holdout_rate": u.holdout_rate,
                "uplift": u.difference,
                "low": u.low,
                "high": u.high,
                "significant": u.significant,
                "reliable": u.reliable,
            }
        )
    return pd.DataFrame(rows, columns=columns)
