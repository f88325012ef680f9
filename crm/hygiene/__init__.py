"""Data hygiene (D5, D7, D8, D9): normalise, validate, complete, decay, measure.

Pure functions on pandas frames; :mod:`flows.hygiene` applies them to the database
(``crm clean``, ``crm quality``). Each parser runs once per distinct value.

Normalisers other rooms call (identity resolution, import):

- :func:`normalise_phones` / :func:`phone_key` — E.164 (``+79161234567``), validity, type;
- :func:`normalise_emails` / :func:`email_key` — syntax, lower case, typos, role/free/disposable;
- :func:`normalise_names`, :func:`proper_case`, :func:`name_key`, :func:`split_full_name`;
- :func:`normalise_contact_points` — the ``contact_points`` columns (normalized, is_valid,
  invalid_reason, phone_type) for a frame of ``kind``/``value`` rows;
- :func:`normalise_contacts` — the import's step (D9): names, titles, cities cleaned,
  email/phone normal forms and issue flags added to a frame of contact rows.

The scheduled pass is :func:`clean_base` (completeness, decay, KPI included).
"""

from __future__ import annotations

import pandas as pd

from crm.hygiene._common import require
from crm.hygiene.emails import email_key, normalise_emails
from crm.hygiene.names import (
    gender_from_patronymic,
    is_fake_name,
    name_key,
    normalise_names,
    proper_case,
    split_full_name,
)
from crm.hygiene.phones import normalise_phones, phone_key
from crm.hygiene.picklists import map_cities, map_tags
from crm.hygiene.pipeline import CONTACT_ADDED_COLUMNS, CleanResult, clean_base, normalise_contacts
from crm.hygiene.titles import map_job_titles

__all__ = [
    "CONTACT_ADDED_COLUMNS",
    "CleanResult",
    "clean_base",
    "email_key",
    "gender_from_patronymic",
    "is_fake_name",
    "map_cities",
    "map_job_titles",
    "map_tags",
    "name_key",
    "normalise_contact_points",
    "normalise_contacts",
    "normalise_emails",
    "normalise_names",
    "normalise_phones",
    "phone_key",
    "proper_case",
    "split_full_name",
]


def normalise_contact_points(points: pd.DataFrame, default_region: str = "RU") -> pd.DataFrame:
    """Fill the normalised columns of ``contact_points`` rows.

    Parameters
    ----------
    points : pandas.DataFrame
        Rows with ``kind`` (``email`` or ``phone``) and ``value`` (as entered).
    default_region : str
        Region for phone numbers written without ``+code``.

    Returns
    -------
    pandas.DataFrame
        ``points`` with ``normalized`` (E.164 / lower-cased address), ``is_valid``,
        ``invalid_reason`` (a key of :data:`crm.hygiene.phones.PHONE_REASONS` or
        :data:`crm.hygiene.emails.EMAIL_REASONS`) and ``phone_type`` set; no other column
        is added, so the result can be written to the table as it is.
    """
    require(points, ("kind", "value"), "normalise_contact_points")
    out = points.copy()
    is_email = (points["kind"] == "email").to_numpy()
    is_phone = (points["kind"] == "phone").to_numpy()
    normalized = pd.Series(pd.NA, index=points.index, dtype="str")
    valid = pd.Series(pd.NA, index=points.index, dtype="boolean")
    reason = pd.Series(pd.NA, index=points.index, dtype="str")
    ptype = pd.Series(pd.NA, index=points.index, dtype="str")
    if is_email.any():
        em = normalise_emails(points.loc[is_email, "value"])
        normalized[is_email] = em["normalized"]
        valid[is_email] = em["is_valid"]
        reason[is_email] = em["invalid_reason"]
    if is_phone.any():
        ph = normalise_phones(points.loc[is_phone, "value"], default_region)
        normalized[is_phone] = ph["normalized"]
        valid[is_phone] = ph["is_valid"]
        reason[is_phone] = ph["invalid_reason"]
        ptype[is_phone] = ph["phone_type"]
    out["normalized"] = normalized
    out["is_valid"] = valid.fillna(False).astype(bool)  # an empty value is no usable channel
    out["invalid_reason"] = reason.mask(valid.isna(), "empty")
    out["phone_type"] = ptype
    return out
