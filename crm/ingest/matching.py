"""Matching new rows against the base and each other (D9), and the contact points to add.

A row whose person the base already holds is attached to that person instead of creating a
duplicate; new contact points are normalised and flagged by :mod:`crm.hygiene`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__: list[str] = []


def _normalise_people(good: pd.DataFrame, default_region: str) -> pd.DataFrame:
    """Names recased and split, gender from the patronymic, canonical titles and cities."""
    from crm.hygiene import normalise_contacts

    cols = ("first_name", "last_name", "middle_name", "gender", "job_title", "city")
    present = [c for c in cols if c in good.columns]
    if not present:
        return good
    clean = normalise_contacts(good[present], default_region=default_region)
    out = good.copy()
    for col in cols:
        if col in clean.columns:
            out[col] = clean[col]
    return out


def _match_people(url: str, good: pd.DataFrame, default_region: str) -> tuple[pd.Series, pd.Series]:
    """Who each new row already is.

    Returns, indexed like ``good``: the existing ``customer_id`` a new row matches (else
    NA), and the ``external_id`` of the earlier row of the same file it is the same person
    as (else NA). Rows whose ``external_id`` the base knows are updates, never matched.
    """
    from crm import store
    from crm.identity import find_duplicates, match_to_existing
    from crm.identity.database import PEOPLE_ROLES, read_people

    none = pd.Series(pd.NA, index=good.index, dtype="object")
    known = store.read_frame(url, "customers", columns=["external_id"])["external_id"]
    # not Series.isin: pandas 3 builds a text lookup set one Python scalar at a time
    # (about 10 µs per key, seconds for a base of a million customers)
    codes = pd.factorize(pd.concat([known, good["external_id"]], ignore_index=True))[0]
    seen = np.zeros(int(codes.max(initial=-1)) + 2, dtype=bool)
    seen[codes[: len(known)] + 1] = True
    seen[0] = False  # a missing external_id is never known
    new = good[~seen[codes[len(known) :] + 1]]
    if new.empty:
        return none.astype("Int64"), none
    blank = pd.Series(None, index=new.index, dtype="object")
    # an import row has one phone and one email: they go in the first of read_people's slots
    sources = {col: {"phone_1": "phone", "email_1": "email"}.get(col, col) for col in PEOPLE_ROLES}
    rows = pd.DataFrame(
        {col: new[src] if src in new.columns else blank for col, src in sources.items()},
        index=new.index,
    )
    roles = {c: r for c, r in PEOPLE_ROLES.items() if rows[c].notna().any()}
    same_as = none.astype("Int64")
    if roles and rows.notna().any().any():
        existing = read_people(url)
        if len(existing):
            hits = match_to_existing(rows, existing, roles, default_region=default_region)
            same_as.loc[hits["new_row_index"].to_numpy()] = hits["existing_customer_id"].to_numpy()
    same_row = none.copy()
    rest = rows[same_as.loc[rows.index].isna().to_numpy()]
    if roles and len(rest) > 1:
        clusters = find_duplicates(rest, roles, default_region=default_region).clusters
        # a cluster's id is its first record in file order: that row stands for the person
        dup = clusters[(clusters["record_id"] != clusters["cluster_id"]).to_numpy()]
        if len(dup):
            same_row.loc[dup["record_id"].to_numpy()] = good.loc[
                dup["cluster_id"].to_numpy(), "external_id"
            ].to_numpy()
    return same_as, same_row


def _new_points(
    url: str, cp: pd.DataFrame, default_region: str, as_of: dt.datetime
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The contact points not yet in the base, normalised, flagged and ranked.

    A person has at most one primary point per channel: a new point is primary only when
    the person has none of that kind yet, and then only the first such point of the file;
    the others (and every point of a person matched on import) land as secondary. Email
    addresses carry hygiene's flags (``is_role``: ``info@``…, ``is_free``, ``is_disposable``);
    returns their counts too.
    """
    from crm import store
    from crm.hygiene import normalise_contact_points, normalise_emails

    cp = cp.drop_duplicates(["customer_id", "kind", "value"])
    known = store.read_frame(
        url, "contact_points", columns=["customer_id", "kind", "value", "is_primary"]
    )
    if len(known):
        seen = cp.merge(
            known[["customer_id", "kind", "value"]].drop_duplicates(),
            on=["customer_id", "kind", "value"],
            how="left",
            indicator=True,
        )["_merge"].to_numpy()
        cp = cp[seen == "left_only"]
    if cp.empty:
        return cp, {}
    cp = normalise_contact_points(cp.reset_index(drop=True), default_region=default_region)
    has_primary = known[known["is_primary"].fillna(False).astype(bool).to_numpy()]
    taken = cp.merge(
        has_primary[["customer_id", "kind"]].drop_duplicates(),
        on=["customer_id", "kind"],
        how="left",
        indicator=True,
    )["_merge"].to_numpy()
    first = ~cp.duplicated(["customer_id", "kind"]).to_numpy()
    cp = cp.assign(is_primary=(taken == "left_only") & first, created_at=as_of)
    is_email = (cp["kind"] == "email").to_numpy()
    for col in ("is_role", "is_free", "is_disposable"):
        cp[col] = pd.Series(pd.NA, index=cp.index, dtype="boolean")
    if is_email.any():
        em = normalise_emails(cp.loc[is_email, "value"])
        for col in ("is_role", "is_free", "is_disposable"):
            cp.loc[is_email, col] = em[col].astype("boolean").to_numpy()
    flags = {
        name: int(cp[col].fillna(False).astype(bool).sum())
        for name, col in (("role", "is_role"), ("free", "is_free"), ("disposable", "is_disposable"))
    }
    return cp, flags
