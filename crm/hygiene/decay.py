"""Data decay (D8): which contacts and channels go to suppression, and why.

Candidates, each with a reason (never a silent deletion):

- ``hard_bounce`` (email channel): a hard bounce on record;
- ``complaint`` (the channel complained on): a spam complaint;
- ``sms_undeliverable`` (phone channel): a bounced SMS;
- ``invalid_email`` / ``invalid_phone`` (that address or number): it failed validation;
- ``unreachable`` (the customer): no valid channel left;
- ``stale`` (the customer): no activity (order, activity, opened or clicked message,
  record creation) for ``stale_after_days``.

:func:`plan_suppressions` compares the candidates with what is already suppressed: new
suppressions are added, suppressions whose reason no longer holds are lifted (kept, with
``lifted_at``), and nothing else is touched, so a rerun with the same data changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.hygiene._common import require

__all__ = [
    "LIFTABLE_REASONS",
    "SUPPRESSION_KEY",
    "SUPPRESSION_REASONS",
    "SuppressionPlan",
    "last_activity",
    "plan_suppressions",
    "suppression_candidates",
]

#: Reason -> what it means.
SUPPRESSION_REASONS = {
    "hard_bounce": "a hard bounce: the mailbox does not exist",
    "complaint": "the contact marked a message as spam",
    "sms_undeliverable": "an SMS could not be delivered",
    "invalid_email": "the address failed validation",
    "invalid_phone": "the number failed validation",
    "unreachable": "no valid channel left",
    "stale": "no activity for years",
}
#: Reasons that are lifted automatically when they no longer hold (fixed data, new activity).
LIFTABLE_REASONS = ("invalid_email", "invalid_phone", "unreachable", "stale")
#: The natural key of a suppression.
SUPPRESSION_KEY = ["customer_id", "scope", "target", "reason"]
_ENGAGEMENT = ("opened", "clicked")
_COLUMNS = ["customer_id", "scope", "target", "reason", "detail", "evidence_at"]


def last_activity(
    customers: pd.DataFrame,
    as_of: dt.datetime | pd.Timestamp,
    orders: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> pd.Series:
    """The last sign of life of each customer up to ``as_of``.

    The latest of: the record's ``created_at``, an order (``ordered_at``), a manager's
    activity (``occurred_at``), an opened or clicked message (``occurred_at``).

    Returns
    -------
    pandas.Series
        Indexed by ``customer_id``, UTC timestamps.
    """
    require(customers, ("customer_id", "created_at"), "last_activity")
    cut = pd.Timestamp(as_of)
    parts = [customers[["customer_id", "created_at"]].rename(columns={"created_at": "at"})]
    if orders is not None and len(orders):
        parts.append(orders[["customer_id", "ordered_at"]].rename(columns={"ordered_at": "at"}))
    if activities is not None and len(activities):
        acts = activities[activities["customer_id"].notna()]
        parts.append(acts[["customer_id", "occurred_at"]].rename(columns={"occurred_at": "at"}))
    if events is not None and len(events):
        eng = events[events["kind"].isin(_ENGAGEMENT)]
        parts.append(eng[["customer_id", "occurred_at"]].rename(columns={"occurred_at": "at"}))
    allp = pd.concat(parts, ignore_index=True)
    allp["at"] = pd.to_datetime(allp["at"], utc=True)
    allp = allp[allp["at"] <= cut]
    last = allp.groupby("customer_id")["at"].max()
    return last.reindex(customers["customer_id"].to_numpy()).rename("last_activity")


def _frame(data: dict[str, object], n: int) -> pd.DataFrame:
    # scalars broadcast against the array columns
    return pd.DataFrame(data, index=pd.RangeIndex(n))[_COLUMNS]


def suppression_candidates(
    customers: pd.DataFrame,
    contact_points: pd.DataFrame,
    events: pd.DataFrame | None,
    activity: pd.Series,
    as_of: dt.datetime | pd.Timestamp,
    stale_after_days: int = 3 * 365,
) -> pd.DataFrame:
    """Everything that should be suppressed as of ``as_of``, with the reason.

    Parameters
    ----------
    customers : pandas.DataFrame
        ``customer_id``, ``status`` (``duplicate`` records are left to identity resolution).
    contact_points : pandas.DataFrame
        ``customer_id``, ``kind``, ``value``, ``normalized``, ``is_valid``, ``invalid_reason``.
    events : pandas.DataFrame or None
        Marketing events: ``customer_id``, ``channel``, ``kind``, ``detail``, ``occurred_at``.
    activity : pandas.Series
        Last activity per ``customer_id`` (see :func:`last_activity`).
    stale_after_days : int
        Days without activity after which a record is stale (three years by default).

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``scope`` (``customer``, ``email``, ``phone``), ``target`` (the
        address or number, ``""`` for a whole channel or customer), ``reason`` (a key of
        :data:`SUPPRESSION_REASONS`), ``detail``, ``evidence_at``; one row per key.
    """
    require(customers, ("customer_id", "status"), "suppression_candidates")
    require(
        contact_points,
        ("customer_id", "kind", "value", "is_valid", "invalid_reason"),
        "suppression_candidates",
    )
    cut = pd.Timestamp(as_of)
    live = customers[customers["status"] != "duplicate"]
    live_ids = pd.Index(live["customer_id"])
    parts: list[pd.DataFrame] = []

    channel_blocked = pd.DataFrame(columns=["customer_id", "scope"])
    if events is not None and len(events):
        ev = events[(events["occurred_at"] <= cut) & events["customer_id"].isin(live_ids)]
        detail = ev["detail"].astype("str").str.lower().fillna("")
        rules = [
            (
                (ev["kind"] == "bounced")
                & (ev["channel"] == "email")
                & ~detail.str.contains("soft"),
                "email",
                "hard_bounce",
            ),
            ((ev["kind"] == "bounced") & (ev["channel"] == "sms"), "phone", "sms_undeliverable"),
            ((ev["kind"] == "complained") & (ev["channel"] == "email"), "email", "complaint"),
            ((ev["kind"] == "complained") & (ev["channel"] == "sms"), "phone", "complaint"),
        ]
        for mask, scope, reason in rules:
            hit = ev[mask.to_numpy()]
            if not len(hit):
                continue
            first = hit.groupby("customer_id")["occurred_at"].min()
            parts.append(
                _frame(
                    {
                        "customer_id": first.index.to_numpy(),
                        "scope": scope,
                        "target": "",
                        "reason": reason,
                        "detail": f"{reason.replace('_', ' ')} on record",
                        "evidence_at": first.to_numpy(),
                    },
                    len(first),
                )
            )
        if parts:
            channel_blocked = pd.concat(parts)[["customer_id", "scope"]].drop_duplicates()

    cp = contact_points[contact_points["customer_id"].isin(live_ids)]
    valid = cp["is_valid"].fillna(False).astype(bool)
    bad = cp[~valid.to_numpy()]
    if len(bad):
        parts.append(
            _frame(
                {
                    "customer_id": bad["customer_id"].to_numpy(),
                    "scope": bad["kind"].to_numpy(),
                    "target": bad["value"].astype("str").fillna("").to_numpy(),
                    "reason": np.where(bad["kind"] == "email", "invalid_email", "invalid_phone"),
                    "detail": bad["invalid_reason"].astype("str").to_numpy(),
                    "evidence_at": pd.NaT,
                },
                len(bad),
            )
        )

    # reachable: a valid point on a channel that is not blocked as a whole
    ok = cp[valid.to_numpy()][["customer_id", "kind"]].rename(columns={"kind": "scope"})
    if len(channel_blocked):
        ok = ok.merge(channel_blocked.assign(_b=True), on=["customer_id", "scope"], how="left")
        ok = ok[ok["_b"].isna()]
    # every live record, suppressed ones included: otherwise a rerun would lift what it just set
    unreachable = live[~live["customer_id"].isin(ok["customer_id"])]
    if len(unreachable):
        parts.append(
            _frame(
                {
                    "customer_id": unreachable["customer_id"].to_numpy(),
                    "scope": "customer",
                    "target": "",
                    "reason": "unreachable",
                    "detail": "no valid email or phone",
                    "evidence_at": pd.NaT,
                },
                len(unreachable),
            )
        )

    act = pd.to_datetime(activity, utc=True)
    since = pd.Series(act.reindex(live["customer_id"].to_numpy()).to_numpy(), index=live.index)
    old = (since < cut - pd.Timedelta(days=stale_after_days)).fillna(False).to_numpy(dtype=bool)
    stale = live[old]
    if len(stale):
        at = pd.Series(since[old].to_numpy(), index=stale.index)
        parts.append(
            _frame(
                {
                    "customer_id": stale["customer_id"].to_numpy(),
                    "scope": "customer",
                    "target": "",
                    "reason": "stale",
                    "detail": ("no activity since " + at.dt.strftime("%Y-%m-%d")).to_numpy(),
                    "evidence_at": at.to_numpy(),
                },
                len(stale),
            )
        )
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    out["evidence_at"] = pd.to_datetime(out["evidence_at"], utc=True)
    out["detail"] = out["detail"].astype("str")
    out = out.drop_duplicates(SUPPRESSION_KEY).sort_values(SUPPRESSION_KEY, kind="stable")
    return out.reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype="int64"),
            "scope": pd.Series(dtype="str"),
            "target": pd.Series(dtype="str"),
            "reason": pd.Series(dtype="str"),
            "detail": pd.Series(dtype="str"),
            "evidence_at": pd.Series(dtype="datetime64[us, UTC]"),
        }
    )


@dataclass(frozen=True)
class SuppressionPlan:
    """What a run writes: suppression rows to upsert, and customer statuses to change."""

    #: rows for ``suppressions`` (upsert on :data:`SUPPRESSION_KEY`): new ones, re-suppressed ones, lifted ones
    writes: pd.DataFrame
    #: ``customer_id``, ``status`` for customers whose status changes (active <-> suppressed)
    statuses: pd.DataFrame
    new: int
    lifted: int


def plan_suppressions(
    candidates: pd.DataFrame,
    existing: pd.DataFrame,
    customers: pd.DataFrame,
    as_of: dt.datetime | pd.Timestamp,
) -> SuppressionPlan:
    """Compare the candidates with the suppressions on record.

    Parameters
    ----------
    candidates : pandas.DataFrame
        From :func:`suppression_candidates`.
    existing : pandas.DataFrame
        The ``suppressions`` table (``customer_id``, ``scope``, ``target``, ``reason``,
        ``lifted_at``…).
    customers : pandas.DataFrame
        ``customer_id``, ``status``.

    Returns
    -------
    SuppressionPlan
        New candidates (or lifted ones that hold again) are written with ``suppressed_at =
        as_of``; active suppressions of a :data:`LIFTABLE_REASONS` reason that no longer hold
        get ``lifted_at = as_of``. An active customer with an active customer-scope
        suppression becomes ``suppressed``; a customer whose last customer-scope suppression
        is lifted in this run becomes ``active`` again.
    """
    now = pd.Timestamp(as_of)
    ex = existing.copy()
    if not len(ex):
        ex = _empty().assign(
            suppressed_at=pd.Series(dtype="datetime64[us, UTC]"),
            lifted_at=pd.Series(dtype="datetime64[us, UTC]"),
        )
    ex["target"] = ex["target"].astype("str").fillna("")
    ex_active = ex[ex["lifted_at"].isna()]
    key = SUPPRESSION_KEY
    merged = candidates.merge(ex[[*key, "lifted_at"]].assign(_on=True), on=key, how="left")
    fresh = merged[merged["_on"].isna() | merged["lifted_at"].notna()]
    fresh = fresh[[*_COLUMNS]].assign(suppressed_at=now)
    fresh["lifted_at"] = pd.NaT

    gone = ex_active.merge(candidates[key].assign(_c=True), on=key, how="left")
    gone = gone[gone["_c"].isna() & gone["reason"].isin(LIFTABLE_REASONS)]
    lifted = gone[[*_COLUMNS, "suppressed_at"]].assign(lifted_at=now)

    writes = pd.concat([fresh, lifted], ignore_index=True)
    writes["evidence_at"] = pd.to_datetime(writes["evidence_at"], utc=True)
    writes["suppressed_at"] = pd.to_datetime(writes["suppressed_at"], utc=True)
    writes["lifted_at"] = pd.to_datetime(writes["lifted_at"], utc=True)

    # customer statuses from the customer-scope suppressions in force after this run
    after = pd.concat([ex_active[key], fresh[key]], ignore_index=True)
    after = after.merge(lifted[key].assign(_l=True), on=key, how="left")
    after = after[after["_l"].isna() & (after["scope"] == "customer")]
    blocked = pd.Index(after["customer_id"].unique())
    status = customers.set_index("customer_id")["status"]
    to_suppress = status[(status == "active") & status.index.isin(blocked)].index
    lifted_customers = pd.Index(lifted.loc[lifted["scope"] == "customer", "customer_id"].unique())
    to_activate = status[
        (status == "suppressed") & status.index.isin(lifted_customers) & ~status.index.isin(blocked)
    ].index
    statuses = pd.DataFrame(
        {
            "customer_id": np.concatenate([to_suppress.to_numpy(), to_activate.to_numpy()]).astype(
                "int64"
            ),
            "status": ["suppressed"] * len(to_suppress) + ["active"] * len(to_activate),
        }
    )
    return SuppressionPlan(writes=writes, statuses=statuses, new=len(fresh), lifted=len(lifted))
