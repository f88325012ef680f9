"""The "% clean records" KPI with its breakdown by issue (D8).

Every rule of the hygiene package reports what it found as an *issue* of a customer
(:data:`ISSUES`). An issue is ``fixed`` when a rule repaired it automatically (a re-cased
name, a phone brought to E.164) and open otherwise (an impossible number, an unmapped
title). A record is clean when it has no issue of severity ``error`` or ``warning``:

- ``clean_share_raw``: clean as found, before the automatic fixes;
- ``clean_share``: clean after them, among the records still active (suppressed ones
  are out of the marketable base).

``info`` issues (a free-mail address, an inferred gender) are reported but do not count.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm.hygiene._common import require

__all__ = ["ISSUES", "issues_from_flags", "quality_kpi"]

#: issue -> (field, severity, description)
ISSUES: dict[str, tuple[str, str, str]] = {
    "name_fake": ("name", "error", "an obviously fake name (test, asdf, ххх) — removed"),
    "name_recased": ("name", "warning", "a name in the wrong case — re-capitalised"),
    "name_mixed_script": ("name", "warning", "Latin and Cyrillic letters mixed — fixed"),
    "name_split": ("name", "warning", "the full name in one field — split"),
    "name_swapped": ("name", "warning", "surname and given name swapped — put back"),
    "surname_in_first_name": ("name", "error", "a surname in the first-name slot"),
    "first_name_missing": ("name", "warning", "no first name to address the contact by"),
    "gender_inferred": ("gender", "info", "gender was missing — inferred"),
    "job_title_nonstandard": (
        "job_title",
        "warning",
        "a job title off the vocabulary — standardised",
    ),
    "job_title_unmapped": ("job_title", "warning", "a job title that maps to no canonical title"),
    "city_nonstandard": ("city", "warning", "a city spelt off the pick-list — standardised"),
    "city_unmapped": ("city", "warning", "a city not on the pick-list"),
    "phone_format": ("phone", "warning", "a phone number not stored in E.164 — normalised"),
    "phone_invalid": ("phone", "error", "an impossible phone number"),
    "phone_not_mobile": ("phone", "info", "a landline or service number: no SMS"),
    "email_format": ("email", "warning", "an email not stored in normal form — normalised"),
    "email_invalid": ("email", "error", "a broken email address"),
    "email_domain_typo": ("email", "error", "a mistyped email domain (gmial.com)"),
    "email_disposable": ("email", "error", "a throw-away mailbox"),
    "email_role": ("email", "warning", "a role address (info@, sales@) on a person"),
    "email_free": ("email", "info", "a free-mail address"),
    "unreachable": ("contact", "error", "no valid email or phone — suppressed"),
    "stale": ("activity", "warning", "no activity for years — suppressed"),
}
_COUNTED = frozenset(code for code, (_, sev, _) in ISSUES.items() if sev != "info")


def issues_from_flags(
    customer_id: pd.Series, flags: Mapping[str, pd.Series | np.ndarray], fixed: bool
) -> pd.DataFrame:
    """Long-format issues from boolean flag columns aligned with ``customer_id``.

    Parameters
    ----------
    customer_id : pandas.Series
        The customer of each row (rows may repeat a customer, e.g. contact points).
    flags : mapping
        Issue code (a key of :data:`ISSUES`) -> boolean flags, one per row.
    fixed : bool
        Whether these issues were repaired automatically.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``issue``, ``fixed``; one row per customer and issue.
    """
    ids = customer_id.to_numpy()
    parts = []
    for code, mask in flags.items():
        if code not in ISSUES:
            raise KeyError(f"unknown issue {code!r}: add it to crm.hygiene.quality.ISSUES")
        m = np.asarray(pd.Series(mask).fillna(False), dtype=bool)
        if m.any():
            parts.append(pd.DataFrame({"customer_id": ids[m], "issue": code, "fixed": fixed}))
    if not parts:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype="int64"),
                "issue": pd.Series(dtype="str"),
                "fixed": pd.Series(dtype=bool),
            }
        )
    return pd.concat(parts, ignore_index=True).drop_duplicates(["customer_id", "issue"])


def quality_kpi(
    issues: pd.DataFrame, before: pd.Series, after: pd.Series | None = None
) -> tuple[dict[str, float | int], pd.DataFrame]:
    """Compute the "% clean records" KPI and its breakdown by issue.

    Parameters
    ----------
    issues : pandas.DataFrame
        ``customer_id``, ``issue``, ``fixed`` (from :func:`issues_from_flags`, concatenated).
    before : pandas.Series
        Customer ids measured as found (the active records at the start of the run).
    after : pandas.Series, optional
        Customer ids still active after the run (default: ``before``).

    Returns
    -------
    summary : dict
        ``records``, ``clean_records_raw``, ``clean_share_raw``, ``records_after``,
        ``clean_records``, ``clean_share``.
    breakdown : pandas.DataFrame
        One row per issue of :data:`ISSUES`: ``issue``, ``field``, ``severity``,
        ``description``, ``records_raw``, ``share_raw``, ``records`` (still open after the
        fixes, among the records after), ``share``; most frequent first.
    """
    require(issues, ("customer_id", "issue", "fixed"), "quality_kpi")
    before_ids = pd.Index(pd.unique(before.to_numpy()))
    after_ids = before_ids if after is None else pd.Index(pd.unique(after.to_numpy()))
    raw = issues[issues["customer_id"].isin(before_ids)]
    left = issues[~issues["fixed"].astype(bool) & issues["customer_id"].isin(after_ids)]
    counted_raw = raw[raw["issue"].isin(_COUNTED)]["customer_id"].nunique()
    counted_left = left[left["issue"].isin(_COUNTED)]["customer_id"].nunique()
    n_before, n_after = len(before_ids), len(after_ids)
    summary: dict[str, float | int] = {
        "records": n_before,
        "clean_records_raw": n_before - counted_raw,
        "clean_share_raw": round((n_before - counted_raw) / n_before, 6) if n_before else 1.0,
        "records_after": n_after,
        "clean_records": n_after - counted_left,
        "clean_share": round((n_after - counted_left) / n_after, 6) if n_after else 1.0,
    }
    per_raw = raw.groupby("issue")["customer_id"].nunique()
    per_left = left.groupby("issue")["customer_id"].nunique()
    codes = list(ISSUES)
    breakdown = pd.DataFrame(
        {
            "issue": codes,
            "field": [ISSUES[c][0] for c in codes],
            "severity": [ISSUES[c][1] for c in codes],
            "description": [ISSUES[c][2] for c in codes],
            "records_raw": per_raw.reindex(codes, fill_value=0).to_numpy(dtype="int64"),
            "records": per_left.reindex(codes, fill_value=0).to_numpy(dtype="int64"),
        }
    )
    breakdown["share_raw"] = (breakdown["records_raw"] / n_before).round(6) if n_before else 0.0
    breakdown["share"] = (breakdown["records"] / n_after).round(6) if n_after else 0.0
    breakdown = breakdown.sort_values(
        ["records_raw", "issue"], ascending=[False, True], kind="stable"
    )
    return summary, breakdown.reset_index(drop=True)
