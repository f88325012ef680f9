"""The whole hygiene pass over frames: what ``crm clean`` and the import apply.

- :func:`normalise_contacts` (D9): the import's per-file step — normalised columns and issue
  flags added to a frame of contact rows before they land.
- :func:`clean_base` (D5, D7, D8): the scheduled pass over the base — cleaned customers and
  contact points (changed rows only, with the audit of each change), suppressions to add
  or lift, data-ops tasks to open or close, completeness and the KPI.

Both are pure: frames in, frames out; ``as_of`` is an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm.hygiene._common import require, to_text
from crm.hygiene.completeness import completeness, data_ops_tasks
from crm.hygiene.decay import (
    SuppressionPlan,
    last_activity,
    plan_suppressions,
    suppression_candidates,
)
from crm.hygiene.emails import normalise_emails
from crm.hygiene.names import NAME_FLAGS, normalise_names
from crm.hygiene.phones import SMS_TYPES, normalise_phones
from crm.hygiene.picklists import map_cities
from crm.hygiene.quality import issues_from_flags, quality_kpi
from crm.hygiene.titles import map_job_titles

__all__ = [
    "CONTACT_ADDED_COLUMNS",
    "CUSTOMER_FIELDS",
    "CleanResult",
    "clean_base",
    "normalise_contacts",
]

#: Customer columns the hygiene pass may change.
CUSTOMER_FIELDS = ("first_name", "last_name", "middle_name", "gender", "job_title", "city")

#: Columns :func:`normalise_contacts` adds (drop them before writing ``customers``).
CONTACT_ADDED_COLUMNS = (
    "email_normalized",
    "email_valid",
    "email_reason",
    "email_suggestion",
    "email_key",
    "email_is_role",
    "email_is_free",
    "email_is_disposable",
    "phone_normalized",
    "phone_valid",
    "phone_reason",
    "phone_type",
    *NAME_FLAGS,
    "title_code",
    "seniority",
    "title_unmapped",
    "city_unmapped",
    "issues",
)

_CP_FIELDS = ("normalized", "is_valid", "invalid_reason", "phone_type")
#: An email's hygiene flags, stored with it (as the import stores them): derived from the
#: address, so written when they change but not logged in ``field_changes``.
_EMAIL_FLAGS = ("is_role", "is_free", "is_disposable")


def normalise_contacts(
    frame: pd.DataFrame, default_region: str = "RU", language: str = "ru"
) -> pd.DataFrame:
    """Normalise a frame of contact rows (an import file) and flag what is wrong (D9).

    Every column is optional: what the frame has is cleaned.

    - names (``first_name``, ``last_name``, ``middle_name``) cleaned in place, ``gender``
      filled where inferable, plus the :data:`crm.hygiene.names.NAME_FLAGS` columns;
    - ``job_title`` and ``city`` replaced by their canonical values when they map
      (``title_code``, ``seniority``, ``title_unmapped``, ``city_unmapped`` added);
    - ``email`` and ``phone`` kept as entered, with ``email_normalized``, ``email_valid``,
      ``email_reason``, ``email_suggestion``, ``email_key``, ``email_is_role``,
      ``email_is_free``, ``email_is_disposable`` and ``phone_normalized``, ``phone_valid``,
      ``phone_reason``, ``phone_type`` added;
    - ``issues``: the row's issue codes (:data:`crm.hygiene.quality.ISSUES`), comma-separated.

    Parameters
    ----------
    frame : pandas.DataFrame
        Contact rows, columns named as ``customers`` plus ``email`` and ``phone``.
    default_region : str
        Region for phone numbers written without ``+code``.
    language : str
        Label language for job titles when the frame has no ``language`` column.

    Returns
    -------
    pandas.DataFrame
        ``frame`` (same index) with the columns above; the added ones are listed in
        :data:`CONTACT_ADDED_COLUMNS`.
    """
    out = frame.copy()
    idx = frame.index
    flags: dict[str, pd.Series] = {}
    if {"first_name", "last_name", "middle_name"} & set(frame.columns):
        names_in = pd.DataFrame(
            {
                col: frame[col] if col in frame else pd.Series(pd.NA, index=idx, dtype="str")
                for col in ("first_name", "last_name", "middle_name", "gender")
            }
        )
        names = normalise_names(names_in)
        for col in ("first_name", "last_name", "middle_name", "gender"):
            out[col] = names[col]
        for flag in NAME_FLAGS:
            out[flag] = names[flag]
        for flag in (
            "name_fake",
            "name_recased",
            "name_mixed_script",
            "name_split",
            "name_swapped",
            "surname_in_first_name",
            "first_name_missing",
        ):
            flags[flag] = names[flag]
    else:
        for flag in NAME_FLAGS:
            out[flag] = False
    if "job_title" in frame:
        lang = frame.get("language", language)
        titles = map_job_titles(frame["job_title"], language=lang)
        out["job_title"] = titles["job_title"]
        out["title_code"] = titles["title_code"]
        out["seniority"] = titles["seniority"]
        out["title_unmapped"] = titles["title_unmapped"]
        flags["job_title_unmapped"] = titles["title_unmapped"]
    else:
        out["title_code"] = out["seniority"] = pd.Series(pd.NA, index=idx, dtype="str")
        out["title_unmapped"] = False
    if "city" in frame:
        cities = map_cities(frame["city"])
        out["city"] = cities["city"]
        out["city_unmapped"] = cities["city_unmapped"]
        flags["city_unmapped"] = cities["city_unmapped"]
    else:
        out["city_unmapped"] = False
    email = frame["email"] if "email" in frame else pd.Series(pd.NA, index=idx, dtype="str")
    em = normalise_emails(email)
    out["email_normalized"] = em["normalized"]
    out["email_valid"] = em["is_valid"]
    out["email_reason"] = em["invalid_reason"]
    out["email_suggestion"] = em["suggestion"]
    out["email_key"] = em["email_key"]
    out["email_is_role"] = em["is_role"]
    out["email_is_free"] = em["is_free"]
    out["email_is_disposable"] = em["is_disposable"]
    flags["email_invalid"] = em["invalid_reason"] == "invalid_syntax"
    flags["email_domain_typo"] = em["invalid_reason"] == "domain_typo"
    flags["email_disposable"] = em["is_disposable"]
    flags["email_role"] = em["is_role"]
    phone = frame["phone"] if "phone" in frame else pd.Series(pd.NA, index=idx, dtype="str")
    ph = normalise_phones(phone, default_region)
    out["phone_normalized"] = ph["normalized"]
    out["phone_valid"] = ph["is_valid"]
    out["phone_reason"] = ph["invalid_reason"]
    out["phone_type"] = ph["phone_type"]
    flags["phone_invalid"] = ph["is_valid"].eq(False)
    flags["unreachable"] = ~(
        em["is_valid"].fillna(False).astype(bool) | ph["is_valid"].fillna(False).astype(bool)
    )
    issues = pd.Series("", index=idx, dtype="str")
    for code, mask in flags.items():
        m = pd.Series(mask, index=idx).fillna(False).astype(bool)
        issues = issues.where(~m, issues + np.where(issues == "", "", ",") + code)
    out["issues"] = issues.mask(issues == "")
    return out


@dataclass(frozen=True)
class CleanResult:
    """Everything one hygiene pass decided (see :func:`clean_base`)."""

    customers: pd.DataFrame  #: full rows of the customers whose fields changed
    contact_points: pd.DataFrame  #: full rows of the contact points whose normal form changed
    changes: (
        pd.DataFrame
    )  #: the audit: table_name, row_id, customer_id, field, old/new value, rule, changed_at
    suppressions: SuppressionPlan
    tasks: pd.DataFrame  #: data_ops_tasks rows to upsert on (customer_id, task)
    tasks_open: int
    card: pd.DataFrame  #: completeness per customer
    issues: pd.DataFrame  #: customer_id, issue, fixed
    summary: dict[str, float | int]
    breakdown: pd.DataFrame
    unmapped_titles: pd.DataFrame
    unmapped_cities: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    a_s, b_s = a.astype("str"), b.astype("str")
    return ((a_s != b_s) & ~(a_s.isna() & b_s.isna())).fillna(True).to_numpy(dtype=bool) & ~(
        a_s.isna() & b_s.isna()
    ).to_numpy(dtype=bool)


def _changes(
    before: pd.DataFrame,
    after: pd.DataFrame,
    table: str,
    row_id: str,
    fields: dict[str, str],
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    parts = []
    for col, rule in fields.items():
        diff = _differs(before[col], after[col])
        if diff.any():
            parts.append(
                pd.DataFrame(
                    {
                        "table_name": table,
                        "row_id": before[row_id].to_numpy()[diff],
                        "customer_id": before["customer_id"].to_numpy()[diff],
                        "field": col,
                        "old_value": before[col].astype("str").to_numpy()[diff],
                        "new_value": after[col].astype("str").to_numpy()[diff],
                        "rule": rule,
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            {
                "table_name": pd.Series(dtype="str"),
                "row_id": pd.Series(dtype="int64"),
                "customer_id": pd.Series(dtype="int64"),
                "field": pd.Series(dtype="str"),
                "old_value": pd.Series(dtype="str"),
                "new_value": pd.Series(dtype="str"),
                "rule": pd.Series(dtype="str"),
                "changed_at": pd.Series(dtype="datetime64[us, UTC]"),
            }
        )
    out = pd.concat(parts, ignore_index=True)
    out["changed_at"] = as_of
    return out


def _plan_tasks(
    wanted: pd.DataFrame, existing: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, int]:
    key = ["customer_id", "task"]
    ex = (
        existing
        if len(existing)
        else pd.DataFrame(
            columns=[*key, "detail", "priority", "owner", "status", "created_at", "closed_at"]
        )
    )
    merged = wanted.merge(
        ex[[*key, "detail", "priority", "owner", "status", "created_at"]],
        on=key,
        how="left",
        suffixes=("", "_was"),
    )
    new = merged["status"].isna()
    reopen = merged["status"] == "done"
    changed = (merged["status"] == "open") & (
        _differs(merged["detail"], merged["detail_was"])
        | (merged["priority"] != merged["priority_was"]).to_numpy()
        | _differs(merged["owner"], merged["owner_was"])
    )
    opened = merged[(new | reopen | changed).to_numpy()].copy()
    opened["created_at"] = pd.to_datetime(opened["created_at"], utc=True).where(
        ~(opened["status"].isna() | (opened["status"] == "done")), as_of
    )
    opened["status"] = "open"
    opened["closed_at"] = pd.NaT
    opened = opened[[*key, "detail", "priority", "owner", "status", "created_at", "closed_at"]]
    stale = ex[ex["status"] == "open"].merge(wanted[key].assign(_w=True), on=key, how="left")
    closed = stale[stale["_w"].isna()][
        [*key, "detail", "priority", "owner", "status", "created_at"]
    ].copy()
    closed["status"] = "done"
    closed["closed_at"] = as_of
    writes = pd.concat([opened, closed], ignore_index=True)
    writes["created_at"] = pd.to_datetime(writes["created_at"], utc=True)
    writes["closed_at"] = pd.to_datetime(writes["closed_at"], utc=True)
    writes["priority"] = writes["priority"].astype("int64")
    return writes, len(wanted)


def _reusing_stored(
    points: pd.DataFrame,
    before: dt.datetime | pd.Timestamp | None,
    reusable: Callable[[pd.DataFrame], np.ndarray],
    check: Callable[[pd.Series], pd.DataFrame],
    stored: Callable[[pd.DataFrame], pd.DataFrame],
) -> pd.DataFrame:
    """``check`` of the points' values, but for the ones the previous pass checked.

    A point created by ``before`` (the previous pass) that ``reusable`` marks was checked by
    that pass or by the import, with the same rules: ``stored`` gives, from its stored row,
    what the check would give again. The result has ``check``'s columns and the points' order.
    """
    trusted = np.zeros(len(points), dtype=bool)
    if before is not None and "created_at" in points and len(points):
        created = pd.to_datetime(points["created_at"], utc=True)
        trusted = (created <= pd.Timestamp(before)).to_numpy(dtype=bool) & reusable(points)
    checked = check(points.loc[~trusted, "value"])
    if not trusted.any():
        return checked
    kept = stored(points[trusted]).reindex(columns=checked.columns)
    return pd.concat([checked, kept.astype(checked.dtypes.to_dict())]).loc[points.index]


def _stored_phones(kept: pd.DataFrame) -> pd.DataFrame:
    # the stored row is what clean_base wrote: an empty value is stored invalid, "empty"
    empty = (kept["invalid_reason"] == "empty").fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "normalized": kept["normalized"],
            "is_valid": kept["is_valid"].astype("boolean").mask(empty),
            "invalid_reason": kept["invalid_reason"].mask(empty),
            "phone_type": kept["phone_type"],
            "region": pd.Series(pd.NA, index=kept.index),
        },
        index=kept.index,
    )


def _phones(
    points: pd.DataFrame, region: str, before: dt.datetime | pd.Timestamp | None
) -> pd.DataFrame:
    """:func:`normalise_phones` of the phone points, reusing the stored forms of parsed ones."""
    return _reusing_stored(
        points,
        before,
        reusable=lambda p: p["is_valid"].notna().to_numpy(dtype=bool),
        check=lambda values: normalise_phones(values, region),
        stored=_stored_phones,
    )


def _stored_emails(kept: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({"normalized": kept["normalized"], "is_valid": True}, index=kept.index)
    for col in _EMAIL_FLAGS:
        frame[col] = kept[col].astype(bool)
    return frame


def _emails(points: pd.DataFrame, before: dt.datetime | pd.Timestamp | None) -> pd.DataFrame:
    """:func:`normalise_emails` of the email points, reusing the stored forms of valid ones.

    A valid address whose form and flags are stored is reused; invalid ones are checked
    again (their typo suggestion feeds the data-ops tasks; they are few).
    """

    def reusable(p: pd.DataFrame) -> np.ndarray:
        mask = p["is_valid"].eq(True).fillna(False) & p["normalized"].notna()
        for col in _EMAIL_FLAGS:  # columns clean_base adds when the frame has none
            mask &= p[col].notna()
        return mask.to_numpy(dtype=bool)

    return _reusing_stored(
        points, before, reusable=reusable, check=normalise_emails, stored=_stored_emails
    )


def clean_base(
    customers: pd.DataFrame,
    contact_points: pd.DataFrame,
    consents: pd.DataFrame,
    *,
    as_of: dt.datetime | pd.Timestamp,
    orders: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    suppressions: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    default_region: str = "RU",
    stale_after_days: int = 3 * 365,
    normalised_before: dt.datetime | pd.Timestamp | None = None,
) -> CleanResult:
    """One hygiene pass over the base (``crm clean``): normalise, validate, decay, measure.

    Parameters
    ----------
    customers : pandas.DataFrame
        The ``customers`` table (full rows).
    contact_points : pandas.DataFrame
        The ``contact_points`` table (full rows).
    consents : pandas.DataFrame
        ``customer_id``, ``channel``, ``granted``, ``recorded_at``.
    as_of : datetime
        The moment of the run: the clock of staleness, consents and every written timestamp.
    orders, activities, events : pandas.DataFrame, optional
        Signs of life (``ordered_at``; ``occurred_at``) and marketing events (bounces, complaints).
    suppressions, tasks : pandas.DataFrame, optional
        The ``suppressions`` and ``data_ops_tasks`` tables as they are.
    default_region : str
        Region for phone numbers written without ``+code``.
    stale_after_days : int
        Days without activity after which a record is stale.
    normalised_before : datetime, optional
        The moment of the previous pass (a later night's hygiene). A phone contact point
        created by then whose stored normal form is filled was parsed by that pass or by the
        import, with the same rules, so its stored ``normalized``, ``is_valid``,
        ``invalid_reason`` and ``phone_type`` are taken as they are and only the new and
        never-parsed numbers go through the parser (the costliest step: messy numbers miss
        its fast path). A valid email created by then whose form and flags (``is_role``,
        ``is_free``, ``is_disposable``, stored by every pass) are stored is reused the same
        way; invalid ones are checked again. Everything else is measured over the whole
        base, so the result is the full pass's. ``None`` checks every number and address.

    Returns
    -------
    CleanResult
        Only rows that change are in ``customers``, ``contact_points``, ``suppressions.writes``
        and ``tasks``: a second pass over the result changes nothing.
    """
    require(
        customers,
        ("customer_id", "status", "lifecycle_stage", "created_at", *CUSTOMER_FIELDS),
        "clean_base",
    )
    require(contact_points, ("contact_point_id", "customer_id", "kind", "value"), "clean_base")
    contact_points = contact_points.copy()
    for col in (*_CP_FIELDS, *_EMAIL_FLAGS):
        if col not in contact_points:
            contact_points[col] = pd.Series(pd.NA, index=contact_points.index, dtype="object")
    now = pd.Timestamp(as_of)
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    live = customers["status"] != "duplicate"

    # ---- customers: names, titles, cities ------------------------------------------------------
    cust = customers.reset_index(drop=True)
    names = normalise_names(cust[["first_name", "last_name", "middle_name", "gender"]])
    lang = cust.get("language", "ru")
    titles = map_job_titles(cust["job_title"], language=lang)
    cities = map_cities(cust["city"])
    new = cust.copy()
    for col in ("first_name", "last_name", "middle_name", "gender"):
        new[col] = names[col]
    new["job_title"] = titles["job_title"]
    new["city"] = cities["city"]
    cust_fields = {
        "first_name": "names",
        "last_name": "names",
        "middle_name": "names",
        "gender": "gender_inferred",
        "job_title": "job_title",
        "city": "city",
    }
    changed_any = np.zeros(len(cust), dtype=bool)
    for col in cust_fields:
        changed_any |= _differs(cust[col], new[col])
    changed_any &= live.reset_index(drop=True).to_numpy()
    cust_changes = _changes(
        cust[changed_any], new[changed_any], "customers", "customer_id", cust_fields, now
    )
    customers_out = new[changed_any]

    # ---- contact points -----------------------------------------------------------------------
    cp = contact_points.reset_index(drop=True)
    is_email = (cp["kind"] == "email").to_numpy()
    is_phone = (cp["kind"] == "phone").to_numpy()
    cp_new = cp.copy()
    em = _emails(cp[is_email], normalised_before)
    ph = _phones(cp[is_phone], default_region, normalised_before)
    cp_new["normalized"] = pd.Series(pd.NA, index=cp.index, dtype="str")
    cp_new.loc[is_email, "normalized"] = em["normalized"]
    cp_new.loc[is_phone, "normalized"] = ph["normalized"]
    valid = pd.Series(False, index=cp.index)
    valid[is_email] = em["is_valid"].fillna(False).astype(bool)
    valid[is_phone] = ph["is_valid"].fillna(False).astype(bool)
    cp_new["is_valid"] = valid
    reason = pd.Series(pd.NA, index=cp.index, dtype="str")
    reason[is_email] = (
        em["invalid_reason"]
        .fillna("empty")
        .where(em["is_valid"].notna() | em["invalid_reason"].notna(), "empty")
    )
    reason[is_phone] = ph["invalid_reason"].where(ph["is_valid"].notna(), "empty")
    cp_new["invalid_reason"] = reason.where(~valid)
    ptype = pd.Series(pd.NA, index=cp.index, dtype="str")
    ptype[is_phone] = ph["phone_type"]
    cp_new["phone_type"] = ptype
    cp_fields = {
        "normalized": "normalise",
        "is_valid": "validate",
        "invalid_reason": "validate",
        "phone_type": "phone_type",
    }
    for col in _EMAIL_FLAGS:
        flag = cp[col].astype("boolean")  # phones keep theirs (none)
        flag[is_email] = em[col].astype("boolean").to_numpy()
        cp_new[col] = flag
    cp_changed = np.zeros(len(cp), dtype=bool)
    for col in (*cp_fields, *_EMAIL_FLAGS):
        cp_changed |= _differs(cp[col], cp_new[col])
    cp_changes = _changes(
        cp[cp_changed], cp_new[cp_changed], "contact_points", "contact_point_id", cp_fields, now
    )
    points_out = cp_new[cp_changed]
    suggestion = pd.Series(pd.NA, index=cp.index, dtype="str")
    suggestion[is_email] = em["suggestion"]
    cp_view = cp_new.assign(suggestion=suggestion)

    # ---- decay --------------------------------------------------------------------------------
    activity = last_activity(cust, now, orders=orders, activities=activities, events=events)
    candidates = suppression_candidates(cust, cp_view, events, activity, now, stale_after_days)
    existing = suppressions if suppressions is not None else pd.DataFrame()
    plan = plan_suppressions(candidates, existing, cust, now)
    status_after = cust.set_index("customer_id")["status"].copy()
    if len(plan.statuses):
        status_after.loc[plan.statuses["customer_id"].to_numpy()] = plan.statuses[
            "status"
        ].to_numpy()

    # ---- completeness and the robot ------------------------------------------------------------
    measured = new[live.reset_index(drop=True).to_numpy()]
    card = completeness(measured, cp_view, consents, now)
    after_status = measured.assign(status=measured["customer_id"].map(status_after).to_numpy())
    name_flags = names.assign(customer_id=cust["customer_id"])[
        live.reset_index(drop=True).to_numpy()
    ]
    wanted = data_ops_tasks(after_status, card, cp_view, name_flags, activity, now)
    task_writes, n_open = _plan_tasks(wanted, tasks if tasks is not None else pd.DataFrame(), now)

    # ---- issues and the KPI --------------------------------------------------------------------
    cid = cust["customer_id"]
    title_given = to_text(cust["job_title"]).notna()
    city_given = to_text(cust["city"]).notna()
    issue_parts = [
        issues_from_flags(
            cid,
            {
                "name_fake": names["name_fake"],
                "name_recased": names["name_recased"],
                "name_mixed_script": names["name_mixed_script"],
                "name_split": names["name_split"],
                "name_swapped": names["name_swapped"],
                "gender_inferred": names["gender_inferred"],
                "job_title_nonstandard": title_given
                & ~titles["title_unmapped"]
                & pd.Series(_differs(cust["job_title"], new["job_title"])),
                "city_nonstandard": city_given
                & ~cities["city_unmapped"]
                & pd.Series(_differs(cust["city"], new["city"])),
            },
            fixed=True,
        ),
        issues_from_flags(
            cid,
            {
                "surname_in_first_name": names["surname_in_first_name"],
                "first_name_missing": names["first_name_missing"],
                "job_title_unmapped": titles["title_unmapped"],
                "city_unmapped": cities["city_unmapped"],
            },
            fixed=False,
        ),
    ]
    e_cid = cp.loc[is_email, "customer_id"]
    p_cid = cp.loc[is_phone, "customer_id"]
    issue_parts += [
        issues_from_flags(
            e_cid,
            {
                "email_format": _differs(cp.loc[is_email, "normalized"], em["normalized"])
                & em["normalized"].notna().to_numpy()
            },
            fixed=True,
        ),
        issues_from_flags(
            e_cid,
            {
                "email_invalid": em["invalid_reason"] == "invalid_syntax",
                "email_domain_typo": em["invalid_reason"] == "domain_typo",
                "email_disposable": em["is_disposable"],
                "email_role": em["is_role"],
                "email_free": em["is_free"],
            },
            fixed=False,
        ),
        issues_from_flags(
            p_cid,
            {
                "phone_format": _differs(cp.loc[is_phone, "normalized"], ph["normalized"])
                & ph["normalized"].notna().to_numpy()
            },
            fixed=True,
        ),
        issues_from_flags(
            p_cid,
            {
                "phone_invalid": ph["is_valid"].eq(False),
                "phone_not_mobile": ph["is_valid"].fillna(False).astype(bool)
                & ~ph["phone_type"].isin(SMS_TYPES),
            },
            fixed=False,
        ),
    ]
    cust_scope = candidates[candidates["scope"] == "customer"]
    for reason_code in ("unreachable", "stale"):
        sel = cust_scope[cust_scope["reason"] == reason_code]
        issue_parts.append(
            issues_from_flags(
                sel["customer_id"], {reason_code: np.ones(len(sel), bool)}, fixed=False
            )
        )
    issues = pd.concat(issue_parts, ignore_index=True)
    before_ids = cust.loc[(cust["status"] == "active").to_numpy(), "customer_id"]
    after_ids = status_after[status_after == "active"].index.to_series()
    summary, breakdown = quality_kpi(issues, before_ids, after_ids)

    unmapped_titles = (
        to_text(cust["job_title"])[titles["title_unmapped"]]
        .value_counts()
        .rename_axis("job_title")
        .reset_index(name="rows")
    )
    unmapped_cities = (
        to_text(cust["city"])[cities["city_unmapped"]]
        .value_counts()
        .rename_axis("city")
        .reset_index(name="rows")
    )
    changes = pd.concat([cust_changes, cp_changes], ignore_index=True)
    stats = {
        "customers_changed": int(changed_any.sum()),
        "contact_points_changed": int(cp_changed.sum()),
        "suppressed": plan.new,
        "lifted": plan.lifted,
        "tasks_open": n_open,
    }
    return CleanResult(
        customers=customers_out,
        contact_points=points_out,
        changes=changes,
        suppressions=plan,
        tasks=task_writes,
        tasks_open=n_open,
        card=card,
        issues=issues,
        summary=summary,
        breakdown=breakdown,
        unmapped_titles=unmapped_titles,
        unmapped_cities=unmapped_cities,
        stats=stats,
    )
