"""The dedup job's plan, pure: inputs read from the base in, merges and household links out.

:func:`plan_dedup` is the one implementation behind both the ``dedup`` Prefect flow and
``crm dedup`` (:mod:`crm.identity.database` reads its :class:`DedupInputs` and writes its
:class:`DedupPlan`). It is closed under its own rule: after a round of merges the base
is rebuilt in memory exactly as the database will read it back (the survivor takes the
duplicates' contact points and won deals; each person read with two phones and two
emails, primary first), and the search runs again until a round finds nothing more. So a
rerun right after a merge run proposes nothing.

The comparison keys (:func:`crm.identity.keys.prepare`, the string work) are prepared once
per run: a later round takes the kept records' keys from the round before and prepares
again only the phones and emails of the survivors, the one thing a merge changes
(:func:`next_keys`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm.identity.errors import IdentityError
from crm.identity.keys import Keys, prepare
from crm.identity.merge import household_links, merge_plan
from crm.identity.resolve import DuplicateResult, find_duplicates

__all__ = [
    "CONTACT_ROLES",
    "PEOPLE_ROLES",
    "DedupInputs",
    "DedupPlan",
    "merged_inputs",
    "next_keys",
    "people_frame",
    "plan_dedup",
]

#: Roles of the columns :func:`people_frame` returns.
PEOPLE_ROLES: dict[str, str] = {
    "first_name": "first_name",
    "last_name": "last_name",
    "middle_name": "middle_name",
    "gender": "gender",
    "birth_date": "birth_date",
    "address": "address",
    "postcode": "postcode",
    "phone_1": "phone",
    "phone_2": "phone",
    "email_1": "email",
    "email_2": "email",
}
#: The contact columns of :data:`PEOPLE_ROLES`: what a merge changes in a survivor's record.
CONTACT_ROLES: dict[str, str] = {
    c: kind for c, kind in PEOPLE_ROLES.items() if kind in ("phone", "email")
}
_MAX_ROUNDS = 6


@dataclass
class DedupInputs:
    """What the dedup job reads from the base.

    Attributes
    ----------
    customers : pandas.DataFrame
        Active customers: ``customer_id``, the name, birth date, address and postcode
        columns of :data:`PEOPLE_ROLES`, ``created_at``.
    points : pandas.DataFrame
        Their contact points: ``contact_point_id``, ``customer_id``, ``kind``, ``value``
        (as stored), ``match_value`` (the normalised value where there is one),
        ``is_primary``.
    deals : pandas.DataFrame
        Won deals: ``customer_id``, ``status``, ``created_at``, ``closed_at``.
    cannot_link : pandas.DataFrame
        ``id_a``, ``id_b``: merges a person undid, never redone.
    changed : numpy.ndarray, optional
        ``customer_id`` of the customers new or changed since the last run (an
        incremental run, :func:`crm.identity.database.load_inputs` with ``since``); ``None``
        for a full run over every pair.
    """

    customers: pd.DataFrame
    points: pd.DataFrame
    deals: pd.DataFrame
    cannot_link: pd.DataFrame
    changed: np.ndarray | None = None


@dataclass
class DedupPlan:
    """What :func:`plan_dedup` decided.

    Attributes
    ----------
    rounds : list of pandas.DataFrame
        The merges of each round (``survivor_id``, ``merged_id``, ``score``,
        ``confidence``), to be applied in order: a survivor of round 1 may be merged in
        round 2.
    households : pandas.DataFrame
        ``customer_id``, ``related_customer_id``, ``shared``: links between the people
        left after all rounds.
    maybe_same : pandas.DataFrame
        The same columns: pairs of them that may be one person or two of one name
        (:func:`crm.identity.resolve.maybe_same`), left for a person to decide.
    result : DuplicateResult
        The first round's search (pairs, clusters, model, timings).
    customers : int
        Active customers before the merges.
    """

    rounds: list[pd.DataFrame]
    households: pd.DataFrame
    result: DuplicateResult
    customers: int
    stats: dict[str, object] = field(default_factory=dict)
    maybe_same: pd.DataFrame = field(default_factory=lambda: household_links(None, None))

    @property
    def merges(self) -> pd.DataFrame:
        """All rounds' merges, each duplicate pointing at the survivor it ends with."""
        if not self.rounds:
            return _empty_plan()
        plan = pd.concat(self.rounds, ignore_index=True)
        final = dict(zip(plan["merged_id"], plan["survivor_id"], strict=True))
        end = plan["survivor_id"].to_numpy().copy()
        for _ in self.rounds:  # follow chains one round at a time (a few rounds at most)
            end = pd.Series(end).map(final).fillna(pd.Series(end)).to_numpy(dtype=np.int64)
        return plan.assign(survivor_id=end).sort_values(
            ["survivor_id", "merged_id"], ignore_index=True
        )


def _empty_plan() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "survivor_id": pd.Series([], dtype="int64"),
            "merged_id": pd.Series([], dtype="int64"),
            "score": pd.Series([], dtype=float),
            "confidence": pd.Series([], dtype=float),
        }
    )


def people_frame(customers: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """One row per customer with up to two phones and two emails (:data:`PEOPLE_ROLES`).

    Contact points are taken primary first, then oldest (smallest id), by their
    ``match_value``; the frame is sorted by ``customer_id``.
    """
    pts = points[points["customer_id"].isin(customers["customer_id"])]
    pts = pts.sort_values(
        ["customer_id", "kind", "is_primary", "contact_point_id"],
        ascending=[True, True, False, True],
    )
    pts = pts.assign(n=pts.groupby(["customer_id", "kind"]).cumcount() + 1)
    pts = pts[pts["n"] <= 2]
    wide = pts.pivot_table(
        index="customer_id", columns=["kind", "n"], values="match_value", aggfunc="first"
    )
    wide.columns = ["_".join(str(part) for part in col) for col in wide.columns]
    out = customers.join(wide, on="customer_id")
    for col in ("phone_1", "phone_2", "email_1", "email_2"):
        if col not in out:
            out[col] = pd.Series(pd.NA, index=out.index, dtype="str")
    return out.sort_values("customer_id", ignore_index=True)


def merged_inputs(inputs: DedupInputs, plan: pd.DataFrame) -> DedupInputs:
    """The inputs as the base reads them back after ``plan``'s merges.

    Mirrors :func:`crm.identity.database.apply_merges`: the duplicates are closed; each
    contact point of a duplicate moves to its survivor unless the survivor already has
    that kind and value (of several duplicates' copies, the smallest id moves); won deals
    move to the survivor.
    """
    if plan.empty:
        return inputs
    to = pd.Series(plan["survivor_id"].to_numpy(), index=plan["merged_id"].to_numpy())
    pts = inputs.points
    dup = pts["customer_id"].isin(to.index)
    moving = pts[dup].assign(survivor=pts.loc[dup, "customer_id"].map(to).to_numpy())
    has = pts[["customer_id", "kind", "value"]].rename(columns={"customer_id": "survivor"})
    moving = moving.merge(has.drop_duplicates(), how="left", indicator=True)
    moving = moving[moving["_merge"] == "left_only"].drop(columns="_merge")
    moving = moving.sort_values("contact_point_id").drop_duplicates(["survivor", "kind", "value"])
    moved = moving.assign(customer_id=moving["survivor"]).drop(columns="survivor")
    kept = pts[~dup]
    deals = inputs.deals.assign(
        customer_id=inputs.deals["customer_id"].map(to).fillna(inputs.deals["customer_id"])
    ).astype({"customer_id": "int64"})
    changed = inputs.changed
    if changed is not None:
        # a survivor took its duplicates' contact points: it is changed for the next round
        survivors = plan["survivor_id"].to_numpy(dtype=np.int64)
        changed = np.setdiff1d(np.union1d(changed, survivors), to.index.to_numpy())
    return DedupInputs(
        customers=inputs.customers[~inputs.customers["customer_id"].isin(to.index)],
        points=pd.concat([kept, moved[kept.columns]], ignore_index=True),
        deals=deals,
        cannot_link=inputs.cannot_link,
        changed=changed,
    )


def next_keys(
    keys: Keys,
    before: np.ndarray,
    people: pd.DataFrame,
    survivors: np.ndarray,
    default_region: str = "RU",
) -> Keys:
    """The keys of the next round's ``people``, from the previous round's ``keys``.

    Parameters
    ----------
    keys : Keys
        The previous round's keys, one per record of ``before``.
    before : numpy.ndarray
        The previous round's ``customer_id`` per record, ascending
        (:func:`people_frame` order).
    people : pandas.DataFrame
        This round's :func:`people_frame`: the previous round's records less the merged
        ones, the survivors with the contact points they took.
    survivors : numpy.ndarray
        ``customer_id`` of the previous round's survivors.
    default_region : str
        Region for phone numbers written without a country code.

    Returns
    -------
    Keys
        Equal, field by field, to ``prepare(people, PEOPLE_ROLES)``: the records kept
        unchanged take their keys; the survivors' phones and emails are prepared again
        (a merge changes nothing else of a record).

    Raises
    ------
    IdentityError
        ``people`` holds a customer ``before`` does not.
    """
    ids = people["customer_id"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(before, ids)
    if len(ids) and (pos.max() >= len(before) or (before[pos] != ids).any()):
        raise IdentityError("the next round's people must be records of the round before")
    kept = keys.take(pos)
    rows = np.flatnonzero(np.isin(ids, survivors))
    if not len(rows):
        return kept
    fresh = prepare(people.iloc[rows], CONTACT_ROLES, default_region=default_region)
    return kept.with_contacts(rows, fresh)


def plan_dedup(
    inputs: DedupInputs,
    threshold: float = 0.5,
    options: Mapping[str, Any] | None = None,
) -> DedupPlan:
    """Find duplicates and households and plan the merges, round after round until closed.

    An incremental run (``inputs.changed`` set, a later night) compares only the pairs
    with a new or changed customer, each matched against the whole base through the
    blocking keys; after a round of merges the survivors count as changed, so the next
    round looks at what the merges changed and the plan is still closed under its rule.

    Parameters
    ----------
    inputs : DedupInputs
        Active customers, their contact points, won deals and undone merges (and, for an
        incremental run, the changed customers).
    threshold : float
        Match probability from which two records are one person, in ``(0, 1]``.
    options : mapping, optional
        More keyword arguments of :func:`crm.identity.find_duplicates`.

    Returns
    -------
    DedupPlan

    Raises
    ------
    IdentityError
        ``threshold`` outside ``(0, 1]``.
    """
    if not 0.0 < threshold <= 1.0:
        raise IdentityError(f"threshold must be in (0, 1], not {threshold}")
    n0 = len(inputs.customers)
    rounds: list[pd.DataFrame] = []
    first: DuplicateResult | None = None
    links = pd.DataFrame(columns=["customer_id", "related_customer_id", "shared"])
    current = inputs
    opts = dict(options or {})
    region = str(opts.get("default_region", "RU"))
    keys: Keys | None = None
    before = np.empty(0, dtype=np.int64)
    plan = _empty_plan()
    for _ in range(_MAX_ROUNDS):
        people = people_frame(current.customers, current.points)
        t = time.perf_counter()
        if keys is None:
            keys = prepare(people, PEOPLE_ROLES, default_region=region)
        else:
            keys = next_keys(keys, before, people, plan["survivor_id"].to_numpy(), region)
        seconds = time.perf_counter() - t
        before = people["customer_id"].to_numpy(dtype=np.int64)
        result = find_duplicates(
            people,
            PEOPLE_ROLES,
            threshold=threshold,
            id_col="customer_id",
            cannot_link=current.cannot_link,
            changed=current.changed,
            keys=keys,
            **opts,
        )
        # the keys' string work of this round (the whole base once, then the survivors)
        result.stats["seconds"] = {**result.stats["seconds"], "prepare": seconds}  # type: ignore[dict-item]
        first = first or result
        members = result.clusters.loc[result.clusters["cluster_size"] > 1, "record_id"]
        deals = current.deals[current.deals["customer_id"].isin(members)]
        plan = merge_plan(result.clusters, result.pairs, people, deals)
        links = household_links(result.households, plan)
        unsure = household_links(result.maybe_same, plan)
        if plan.empty:
            break
        rounds.append(plan)
        current = merged_inputs(current, plan)
    assert first is not None
    return DedupPlan(
        rounds=rounds,
        households=links,
        maybe_same=unsure,
        result=first,
        customers=n0,
        stats={
            "rounds": len(rounds),
            "closed": len(rounds) < _MAX_ROUNDS,
            "changed": None if inputs.changed is None else len(inputs.changed),
        },
    )
