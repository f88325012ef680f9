"""Account-level lead scores (S3, S6): a company's contacts aggregated, missing buying roles named."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm.columns import (
    COMPANY_ID,
    CUSTOMER_ID,
)
from segments.errors import require_columns
from segments.leads import contact_roles
from segments.scoring_rules import ScoringRules

__all__ = ["account_scores"]


def account_scores(
    scores: pd.DataFrame,
    customers: pd.DataFrame,
    rules: ScoringRules,
    *,
    score_col: str = "score",
) -> pd.DataFrame:
    """Company-level scores from contact scores, with the buying roles nobody covers (S3, S6).

    A contact's score is the best score among its leads. Per company: ``contacts`` (its
    customers), ``contacts_scored`` (those with a scored lead), ``score_max``,
    ``score_mean``, ``roles_present`` and ``missing_roles`` (expected roles,
    ``rules.account.expected_roles``, with no contact; comma-separated),
    ``completeness`` (share of expected roles covered), ``account_score`` =
    ``score_max × max(0, 1 − missing_role_penalty × number missing)`` and a ``note``.

    Parameters
    ----------
    scores : pandas.DataFrame
        ``customer_id`` and ``score_col`` (e.g. ``rule_scores(...).scores``, or model
        probabilities in a column).
    customers : pandas.DataFrame
        ``customer_id``, ``company_id`` and ``job_title`` (or ``role``).
    rules : ScoringRules
        For the role keywords and the ``account`` section.

    Returns
    -------
    pandas.DataFrame
        One row per company with at least one contact, sorted by ``company_id``.
    """
    require_columns(scores, [CUSTOMER_ID, score_col], "scores")
    require_columns(customers, [CUSTOMER_ID, COMPANY_ID], "customers")
    contacts = pd.DataFrame(
        {
            CUSTOMER_ID: customers[CUSTOMER_ID].to_numpy(),
            COMPANY_ID: customers[COMPANY_ID].astype("Int64").to_numpy(),
            "role": contact_roles(customers, rules).to_numpy(),
        }
    ).dropna(subset=[COMPANY_ID])
    best = scores.groupby(CUSTOMER_ID, sort=False)[score_col].max()
    contacts["score"] = contacts[CUSTOMER_ID].map(best)
    g = contacts.groupby(COMPANY_ID, sort=True)
    out = pd.DataFrame(
        {
            "contacts": g.size(),
            "contacts_scored": g["score"].count(),
            "score_max": g["score"].max(),
            "score_mean": g["score"].mean(),
        }
    )
    expected = list(rules.account.expected_roles)
    have = (
        contacts.dropna(subset=["role"])
        .drop_duplicates([COMPANY_ID, "role"])
        .assign(flag=True)
        .pivot(index=COMPANY_ID, columns="role", values="flag")
        .reindex(index=out.index)
    )
    present = pd.Series("", index=out.index, dtype="str")
    missing = pd.Series("", index=out.index, dtype="str")
    n_missing = np.zeros(len(out), dtype=int)
    for role in rules.role_codes:
        col = (
            have[role].fillna(False).to_numpy(dtype=bool)
            if role in have.columns
            else np.zeros(len(out), bool)
        )
        present = present + np.where(col, role + ",", "")
        if role in expected:
            missing = missing + np.where(col, "", role + ",")
            n_missing += ~col
    out["roles_present"] = present.str.rstrip(",").str.replace(",", ", ")
    out["missing_roles"] = missing.str.rstrip(",").str.replace(",", ", ")
    out["completeness"] = 1.0 - n_missing / len(expected) if expected else 1.0
    factor = np.maximum(0.0, 1.0 - rules.account.missing_role_penalty * n_missing)
    out["account_score"] = out["score_max"] * factor
    out["note"] = np.where(
        n_missing > 0,
        "no contact for "
        + out["missing_roles"]
        + ": the score covers part of the buying committee",
        "",
    )
    return out.reset_index()
