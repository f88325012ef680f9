"""The survivor rule and the merge plan (pure: frames in, frames out).

D6: when records of one person are merged, the record with the *older won deal* keeps the
history; without won deals (or on a tie) the older record (``created_at``) survives, then
the smaller id. The others are closed as duplicates pointing at the survivor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm import columns as c
from crm.identity.errors import IdentityError

__all__ = ["SURVIVOR_RULE", "household_links", "merge_plan", "survivors"]

#: How the survivor is chosen, as recorded in the merge log.
SURVIVOR_RULE = "survivor: oldest won deal, then oldest record, then smallest id"


def survivors(
    clusters: pd.DataFrame, customers: pd.DataFrame, deals: pd.DataFrame | None = None
) -> pd.Series:
    """The surviving customer of every cluster.

    Parameters
    ----------
    clusters : pandas.DataFrame
        ``record_id`` (a customer id) and ``cluster_id``, as in
        :attr:`~crm.identity.resolve.DuplicateResult.clusters`.
    customers : pandas.DataFrame
        ``customer_id`` and ``created_at``.
    deals : pandas.DataFrame, optional
        ``customer_id``, ``status`` and ``closed_at`` (``created_at`` when not closed);
        only won deals count.

    Returns
    -------
    pandas.Series
        Survivor customer id, indexed by ``cluster_id``.

    Examples
    --------
    Customer 2 won a deal in 2021, customer 1 only in 2023: 2 survives although 1 is older.

    >>> survivors(clusters, customers, deals).loc[cluster]
    2
    """
    for col in ("record_id", "cluster_id"):
        if col not in clusters:
            raise IdentityError(f"clusters needs a {col!r} column")
    frame = clusters[["record_id", "cluster_id"]].merge(
        customers[[c.CUSTOMER_ID, c.CREATED_AT]],
        left_on="record_id",
        right_on=c.CUSTOMER_ID,
        how="left",
    )
    big = pd.Timestamp("2999-12-31", tz="UTC").as_unit("us")  # "never" sorts last
    won_at = pd.Series(dtype="datetime64[us, UTC]")  # mapped only when not empty (pandas 3)
    if deals is not None and len(deals):
        won = deals[deals[c.STATUS] == "won"]
        when = won["closed_at"] if "closed_at" in won else won[c.CREATED_AT]
        if c.CREATED_AT in won:
            when = when.fillna(won[c.CREATED_AT])
        won_at = pd.to_datetime(when, utc=True).groupby(won[c.CUSTOMER_ID].to_numpy()).min()
    if len(won_at):
        won_when = pd.to_datetime(frame["record_id"].map(won_at), utc=True).dt.as_unit("us")
    else:
        won_when = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
    frame["won_at"] = won_when.fillna(big)
    frame["created"] = pd.to_datetime(frame[c.CREATED_AT], utc=True).fillna(big)
    best = frame.sort_values(["cluster_id", "won_at", "created", "record_id"], kind="stable")
    return best.drop_duplicates("cluster_id").set_index("cluster_id")["record_id"]


def merge_plan(
    clusters: pd.DataFrame,
    pairs: pd.DataFrame,
    customers: pd.DataFrame,
    deals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per record to close: ``survivor_id``, ``merged_id``, ``score``, ``confidence``.

    ``score`` is the merged record's best match probability with another record of its
    cluster, ``confidence`` the cluster's (its weakest match).
    """
    multi = clusters[clusters["cluster_size"] > 1]
    if multi.empty:
        return pd.DataFrame(
            {
                "survivor_id": pd.Series([], dtype="int64"),
                "merged_id": pd.Series([], dtype="int64"),
                "score": pd.Series([], dtype=float),
                "confidence": pd.Series([], dtype=float),
            }
        )
    surv = survivors(multi, customers, deals)
    plan = multi.assign(survivor_id=multi["cluster_id"].map(surv).to_numpy())
    plan = plan[plan["record_id"] != plan["survivor_id"]]
    matched = pairs[pairs["is_match"]]
    best = (
        pd.concat(
            [
                matched[["id_a", "score"]].rename(columns={"id_a": "rid"}),
                matched[["id_b", "score"]].rename(columns={"id_b": "rid"}),
            ]
        )
        .groupby("rid")["score"]
        .max()
    )
    return pd.DataFrame(
        {
            "survivor_id": plan["survivor_id"].to_numpy(dtype=np.int64),
            "merged_id": plan["record_id"].to_numpy(dtype=np.int64),
            "score": plan["record_id"].map(best).to_numpy(dtype=float),
            "confidence": plan["confidence"].to_numpy(dtype=float),
        }
    ).sort_values(["survivor_id", "merged_id"], ignore_index=True)


def household_links(households: pd.DataFrame | None, plan: pd.DataFrame | None) -> pd.DataFrame:
    """Household pairs between survivors: ``customer_id``, ``related_customer_id``, ``shared``.

    A record about to be merged stands for its survivor; each unordered pair appears once
    with the smaller id first, and a pair that ends up as one person is dropped. The same
    holds for the pairs left for review (:attr:`~crm.identity.resolve.DuplicateResult.maybe_same`).
    Without ``households`` the result is empty.
    """
    if households is None:
        return pd.DataFrame(
            {
                c.CUSTOMER_ID: pd.Series([], dtype="int64"),
                "related_customer_id": pd.Series([], dtype="int64"),
                "shared": pd.Series([], dtype=object),
            }
        )
    if plan is None:
        plan = pd.DataFrame({"survivor_id": [], "merged_id": []})
    to_surv = pd.Series(plan["survivor_id"].to_numpy(), index=plan["merged_id"].to_numpy())
    a = households["id_a"].map(to_surv).fillna(households["id_a"]).astype("int64")
    b = households["id_b"].map(to_surv).fillna(households["id_b"]).astype("int64")
    out = pd.DataFrame(
        {
            c.CUSTOMER_ID: np.minimum(a, b),
            "related_customer_id": np.maximum(a, b),
            "shared": households["shared"].to_numpy(),
        }
    )
    out = out[out[c.CUSTOMER_ID] != out["related_customer_id"]]
    return out.drop_duplicates([c.CUSTOMER_ID, "related_customer_id"]).reset_index(drop=True)
