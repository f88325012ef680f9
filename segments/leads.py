"""Which leads are scored and who their contacts are: eligibility (D2), buying roles, time helpers.

Disqualified and spam leads are never scored, trained on or campaigned to: they were never
target leads (:data:`EXCLUDED_STATUSES`). A contact's buying role comes from a ``role``
column or from the job title's keywords (:func:`contact_roles`).
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from crm.asof import AsOfError, as_instant
from crm.columns import (
    CUSTOMER_ID,
    STATUS,
)
from segments.errors import (
    InvalidParameterError,
    require_columns,
)
from segments.scoring_rules import ScoringRules

__all__ = ["EXCLUDED_STATUSES", "contact_roles", "eligible_leads"]

#: Lead statuses that are never scored, trained on or campaigned to (D2).
EXCLUDED_STATUSES: tuple[str, ...] = ("disqualified", "spam")

_US_PER_DAY = 86_400_000_000


def _stamp(as_of: dt.date | dt.datetime | pd.Timestamp | str) -> pd.Timestamp:
    """``as_of`` as a UTC instant by :func:`crm.asof.as_instant` (a bare date: the end of it)."""
    try:
        return as_instant(as_of)
    except AsOfError:
        raise InvalidParameterError(
            "as_of", as_of, "a date, a datetime or ISO 8601 text (YYYY-MM-DD)"
        ) from None


def _age_days(ts: pd.Series, as_of: pd.Timestamp) -> np.ndarray:
    """Days from each timestamp to ``as_of`` (float; NaN for missing)."""
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = pd.to_datetime(ts, utc=True)
    delta = as_of - ts
    return delta.dt.total_seconds().to_numpy(dtype=float, na_value=np.nan) / 86_400.0


def eligible_leads(leads: pd.DataFrame, status_col: str = STATUS) -> pd.DataFrame:
    """The leads that may be scored, trained on and campaigned to: not disqualified, not spam.

    >>> eligible_leads(pd.DataFrame({"status": ["new", "spam", "verified"]})).index.tolist()
    [0, 2]
    """
    require_columns(leads, [status_col], "leads")
    return leads[~leads[status_col].isin(EXCLUDED_STATUSES).to_numpy(dtype=bool)]


def _fold_text(values: pd.Series) -> pd.Series:
    return values.astype("str").str.lower().str.replace("ё", "е", regex=False).str.strip()


def contact_roles(
    customers: pd.DataFrame, rules: ScoringRules, *, role_col: str = "role"
) -> pd.Series:
    """Each customer's buying role: the ``role`` column when filled, else from ``job_title``.

    The first :class:`RoleRule` (in file order) with a keyword inside the folded title
    (lower case, ``ё`` → ``е``) wins; a title matching none is ``"other"``; no title is
    missing. Titles are matched once per distinct title, not once per customer.

    Returns
    -------
    pandas.Series
        Indexed by ``customer_id``, values role codes (str, missing when unknown).
    """
    require_columns(customers, [CUSTOMER_ID], "customers")
    index = pd.Index(customers[CUSTOMER_ID], name=CUSTOMER_ID)
    if "job_title" in customers.columns:
        codes, uniques = pd.factorize(_fold_text(customers["job_title"]))
        folded = pd.Series(uniques, dtype="str")
        role = pd.Series("other", index=folded.index, dtype="str")
        for rule in reversed(rules.roles):  # earlier rules overwrite later ones: first match wins
            pattern = "|".join(re.escape(k.lower().replace("ё", "е")) for k in rule.keywords)
            role = role.mask(folded.str.contains(pattern, regex=True).to_numpy(bool), rule.code)
        taken = role.to_numpy(dtype=object)[np.maximum(codes, 0)]
        taken[codes < 0] = None
        out = pd.Series(taken, index=index, dtype="str")
    else:
        out = pd.Series(pd.NA, index=index, dtype="str")
    if role_col in customers.columns:
        given = pd.Series(customers[role_col].to_numpy(), index=index, dtype="str")
        out = given.where(given.notna(), out)
    return out.rename("role")
