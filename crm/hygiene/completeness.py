"""Completeness of a contact card and the data-ops "robot" task list (D7).

A card with only a phone needs an email and vice versa: each customer gets a weighted
completeness score in [0, 1] and the list of what the card misses (``no_email``,
``no_mobile``, ``no_consent``, ``no_birthday``…). :func:`data_ops_tasks` turns the gaps
and the fixable errors of the cards worth fixing into tasks for people.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from crm.hygiene._common import require
from crm.hygiene.phones import SMS_TYPES

__all__ = [
    "COMPLETENESS_ITEMS",
    "TASKS",
    "completeness",
    "data_ops_tasks",
    "latest_consents",
]

#: What a complete card has: item -> (weight, code of the gap). ``job_title`` counts for B2B contacts only.
COMPLETENESS_ITEMS: dict[str, tuple[float, str]] = {
    "email": (3.0, "no_email"),
    "mobile": (3.0, "no_mobile"),
    "consent": (2.0, "no_consent"),
    "first_name": (2.0, "no_first_name"),
    "last_name": (1.0, "no_last_name"),
    "birth_date": (1.0, "no_birthday"),
    "city": (1.0, "no_city"),
    "gender": (0.5, "no_gender"),
    "job_title": (1.0, "no_job_title"),
}

#: Data-ops tasks: task -> (priority, what to do). Priority 1 is the most urgent.
TASKS: dict[str, tuple[int, str]] = {
    "fix_email_typo": (1, "the email domain looks mistyped: confirm the address"),
    "fix_email": (1, "the email address is broken: ask for it again"),
    "fix_phone": (1, "the phone number is impossible: ask for it again"),
    "ask_email": (2, "no usable email: ask for one"),
    "ask_mobile": (2, "no mobile number: ask for one (SMS goes only to mobiles)"),
    "check_name": (2, "the name needs a look (surname in the first-name slot or no first name)"),
    "ask_consent": (3, "no marketing consent on any channel: ask for it"),
    "ask_birthday": (4, "no birthday: ask for it (birthday campaigns)"),
}
_WORTH_STAGES = ("opportunity", "customer", "repeat_customer")


def latest_consents(consents: pd.DataFrame, as_of: dt.datetime | pd.Timestamp) -> pd.DataFrame:
    """The latest consent row per customer and channel recorded up to ``as_of`` (the latest wins)."""
    require(consents, ("customer_id", "channel", "granted", "recorded_at"), "latest_consents")
    upto = consents[consents["recorded_at"] <= pd.Timestamp(as_of)]
    return (
        upto.sort_values("recorded_at", kind="stable")
        .drop_duplicates(["customer_id", "channel"], keep="last")
        .reset_index(drop=True)
    )


def _any_by_customer(
    ids: pd.Series, mask: pd.Series | np.ndarray, customers: pd.Index
) -> np.ndarray:
    hit = pd.Index(ids[np.asarray(mask, dtype=bool)].unique())
    return customers.isin(hit)


def completeness(
    customers: pd.DataFrame,
    contact_points: pd.DataFrame,
    consents: pd.DataFrame,
    as_of: dt.datetime | pd.Timestamp,
) -> pd.DataFrame:
    """Score each card's completeness and list what it misses.

    Parameters
    ----------
    customers : pandas.DataFrame
        ``customer_id``, ``first_name``, ``last_name``, ``birth_date``, ``city``, ``gender``;
        ``company_id`` and ``job_title`` (a job title is expected of B2B contacts only).
    contact_points : pandas.DataFrame
        ``customer_id``, ``kind``, ``is_valid``, ``phone_type`` (normalised).
    consents : pandas.DataFrame
        ``customer_id``, ``channel``, ``granted``, ``recorded_at``.
    as_of : datetime
        Consents recorded after it are ignored.

    Returns
    -------
    pandas.DataFrame
        One row per customer: ``customer_id``, ``has_<item>`` for each item of
        :data:`COMPLETENESS_ITEMS`, ``score`` (weighted share of what applies, 0–1),
        ``missing`` (the gap codes, comma-separated, empty when complete) and ``missing_count``.
    """
    require(
        customers,
        ("customer_id", "first_name", "last_name", "birth_date", "city", "gender"),
        "completeness",
    )
    require(contact_points, ("customer_id", "kind", "is_valid", "phone_type"), "completeness")
    ids = pd.Index(customers["customer_id"])
    valid = contact_points["is_valid"].fillna(False).astype(bool)
    email = (contact_points["kind"] == "email") & valid
    mobile = (
        (contact_points["kind"] == "phone") & valid & contact_points["phone_type"].isin(SMS_TYPES)
    )
    latest = latest_consents(consents, as_of)
    granted = latest["granted"].fillna(False).astype(bool)

    def filled(col: str) -> np.ndarray:
        if col not in customers:
            return np.zeros(len(customers), dtype=bool)
        values = customers[col]
        present = values.notna()
        if values.dtype == object or str(values.dtype).startswith("str"):
            present &= values.astype("str").str.strip().fillna("") != ""
        return present.to_numpy()

    has = {
        "email": _any_by_customer(contact_points["customer_id"], email, ids),
        "mobile": _any_by_customer(contact_points["customer_id"], mobile, ids),
        "consent": _any_by_customer(latest["customer_id"], granted, ids),
        "first_name": filled("first_name"),
        "last_name": filled("last_name"),
        "birth_date": filled("birth_date"),
        "city": filled("city"),
        "gender": filled("gender"),
        "job_title": filled("job_title"),
    }
    b2b = (
        customers["company_id"].notna().to_numpy()
        if "company_id" in customers
        else np.zeros(len(customers), dtype=bool)
    )
    applies = {item: (b2b if item == "job_title" else np.ones(len(ids), bool)) for item in has}
    total = sum(w * applies[i] for i, (w, _) in COMPLETENESS_ITEMS.items())
    got = sum(w * (has[i] & applies[i]) for i, (w, _) in COMPLETENESS_ITEMS.items())
    out = pd.DataFrame({"customer_id": customers["customer_id"].to_numpy()})
    for item in COMPLETENESS_ITEMS:
        out[f"has_{item}"] = has[item]
    out["score"] = np.round(got / total, 3)
    missing = pd.Series("", index=out.index, dtype="str")
    count = np.zeros(len(out), dtype=int)
    for item, (_, code) in COMPLETENESS_ITEMS.items():
        gap = applies[item] & ~has[item]
        missing = missing.where(~gap, missing + np.where(missing == "", "", ", ") + code)
        count += gap
    out["missing"] = missing
    out["missing_count"] = count
    return out


def data_ops_tasks(
    customers: pd.DataFrame,
    card: pd.DataFrame,
    contact_points: pd.DataFrame,
    name_flags: pd.DataFrame | None,
    last_activity: pd.Series | None,
    as_of: dt.datetime | pd.Timestamp,
    recent_days: int = 365,
) -> pd.DataFrame:
    """The "robot" list: what to fix on the cards worth fixing.

    A card is worth fixing when the customer is active or suppressed (not a merged duplicate)
    and either in a valuable lifecycle stage (opportunity, customer, repeat customer) or active within ``recent_days``.

    Parameters
    ----------
    customers : pandas.DataFrame
        ``customer_id``, ``status``, ``lifecycle_stage``, ``birth_date``, ``owner`` (optional).
    card : pandas.DataFrame
        The output of :func:`completeness`.
    contact_points : pandas.DataFrame
        ``customer_id``, ``kind``, ``is_valid``, ``invalid_reason`` and optionally
        ``suggestion`` (the address a mistyped domain probably meant).
    name_flags : pandas.DataFrame or None
        ``customer_id``, ``surname_in_first_name``, ``first_name_missing``.
    last_activity : pandas.Series or None
        Last activity per ``customer_id`` (index), UTC timestamps.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``task`` (a key of :data:`TASKS`), ``detail``, ``priority``, ``owner``,
        sorted by priority then customer.
    """
    require(customers, ("customer_id", "status", "lifecycle_stage"), "data_ops_tasks")
    ids = pd.Index(customers["customer_id"])
    worth = customers["lifecycle_stage"].isin(_WORTH_STAGES).to_numpy().copy()
    if last_activity is not None:
        recent = pd.Timestamp(as_of) - pd.Timedelta(days=recent_days)
        act = customers["customer_id"].map(last_activity)
        worth |= (act >= recent).fillna(False).to_numpy(dtype=bool)
    # suppressed cards count too: an unreachable good customer is exactly the card to fix
    worth &= customers["status"].isin(("active", "suppressed")).to_numpy()

    cp = contact_points
    valid = cp["is_valid"].fillna(False).astype(bool)
    reason = cp["invalid_reason"].astype("str")
    c = card.set_index("customer_id").reindex(ids)
    has_email = c["has_email"].fillna(False).to_numpy(dtype=bool)
    has_mobile = c["has_mobile"].fillna(False).to_numpy(dtype=bool)
    typo = _any_by_customer(
        cp["customer_id"], (cp["kind"] == "email") & (reason == "domain_typo"), ids
    )
    bad_email = _any_by_customer(cp["customer_id"], (cp["kind"] == "email") & ~valid, ids)
    bad_phone = _any_by_customer(cp["customer_id"], (cp["kind"] == "phone") & ~valid, ids)
    any_phone_ok = _any_by_customer(cp["customer_id"], (cp["kind"] == "phone") & valid, ids)

    suggestion = pd.Series(pd.NA, index=ids, dtype="str")
    if "suggestion" in cp:
        typos = cp.loc[(reason == "domain_typo").to_numpy(), ["customer_id", "suggestion"]]
        sug = typos.drop_duplicates("customer_id").set_index("customer_id")["suggestion"]
        suggestion = pd.Series(ids.map(sug), index=ids, dtype="str")

    check_name = np.zeros(len(ids), dtype=bool)
    if name_flags is not None:
        nf = name_flags.set_index("customer_id").reindex(ids)
        check_name = (
            nf["surname_in_first_name"].fillna(False).astype(bool)
            | nf["first_name_missing"].fillna(False).astype(bool)
        ).to_numpy()

    rules = {
        "fix_email_typo": typo & ~has_email,
        "fix_email": bad_email & ~typo & ~has_email,
        "fix_phone": bad_phone & ~any_phone_ok,
        "ask_email": ~has_email & ~bad_email,
        "ask_mobile": ~has_mobile & ~(bad_phone & ~any_phone_ok),
        "check_name": check_name,
        "ask_consent": ~c["has_consent"].fillna(False).to_numpy(dtype=bool),
        "ask_birthday": ~c["has_birth_date"].fillna(False).to_numpy(dtype=bool),
    }
    owner = customers["owner"] if "owner" in customers else pd.Series(pd.NA, index=customers.index)
    parts = []
    for task, mask in rules.items():
        sel = worth & mask
        if not sel.any():
            continue
        priority, text = TASKS[task]
        detail = pd.Series(text, index=range(int(sel.sum())), dtype="str")
        if task == "fix_email_typo":
            s = suggestion.to_numpy()[sel]
            detail = pd.Series(
                np.where(pd.isna(s), text, "did you mean " + s.astype(str) + "?"), dtype="str"
            )
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": ids.to_numpy()[sel],
                    "task": task,
                    "detail": detail.to_numpy(),
                    "priority": priority,
                    "owner": owner.to_numpy()[sel],
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="int64"),
                "task": pd.Series(dtype="str"),
                "detail": pd.Series(dtype="str"),
                "priority": pd.Series(dtype="int64"),
                "owner": pd.Series(dtype="str"),
            }
        )
    out = pd.concat(parts, ignore_index=True)
    out["owner"] = out["owner"].astype("str")
    return out.sort_values(["priority", "customer_id", "task"], kind="stable").reset_index(
        drop=True
    )
