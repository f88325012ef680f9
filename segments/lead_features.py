"""What the lead model learns from: features known shortly after a lead came in, and its outcome.

See :mod:`segments.scoring` for the labelling rule (mature leads only) and the observation
point of the features.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm.columns import (
    CHANNEL,
    COMPANY_ID,
    CREATED_AT,
    CUSTOMER_ID,
    LEAD_ID,
    OCCURRED_AT,
    SOURCE,
    STATUS,
)
from segments.errors import (
    InvalidParameterError,
    require_columns,
)
from segments.leads import _age_days, _stamp, contact_roles, eligible_leads
from segments.scoring_rules import EXAMPLE_RULES, ScoringRules, load_scoring_rules

__all__ = ["CATEGORICAL_FEATURES", "NUMERIC_FEATURES", "lead_features", "lead_labels"]

#: Categorical and numeric features :func:`lead_features` builds, in that order.
CATEGORICAL_FEATURES: tuple[str, ...] = (
    SOURCE, CHANNEL, "industry", "size_band", "role", "authority", "need",
)  # fmt: skip
NUMERIC_FEATURES: tuple[str, ...] = (
    "log_budget", "budget_given", "timing_days", "timing_given",
    "calls", "meetings", "emails", "tasks", "opened", "clicked",
)  # fmt: skip
_ACTIVITY_FEATURE = {"call": "calls", "meeting": "meetings", "email": "emails", "task": "tasks"}


def _window_counts(
    frame: pd.DataFrame,
    observed: pd.DataFrame,
    kinds: Mapping[str, str],
    lookback_days: float,
    only_done: bool,
) -> pd.DataFrame:
    """Per lead, how many actions of each kind fall in ``(observed_at − lookback, observed_at]``."""
    require_columns(frame, [CUSTOMER_ID, "kind", OCCURRED_AT], "activities/events")
    keep = frame["kind"].isin(list(kinds)).to_numpy(dtype=bool)
    if only_done and "done" in frame.columns:
        keep = keep & frame["done"].fillna(False).to_numpy(dtype=bool)
    acts = pd.DataFrame(
        {
            CUSTOMER_ID: frame[CUSTOMER_ID].to_numpy()[keep],
            "kind": frame["kind"].astype("str").to_numpy()[keep],
            # the array, not .to_numpy(): that makes an object array of a Timestamp per row
            "at": pd.to_datetime(frame[OCCURRED_AT], utc=True).array[keep],
        }
    )
    joined = observed.merge(acts, on=CUSTOMER_ID, how="inner")
    age = (joined["observed_at"] - joined["at"]).dt.total_seconds().to_numpy() / 86_400.0
    joined = joined[(age >= 0) & (age <= lookback_days)]
    # a bincount over (lead, kind) cells: pd.crosstab aggregates group by group in Python
    names = list(kinds)
    kind = pd.Categorical(joined["kind"], categories=names).codes.astype(np.int64)
    cells = joined["pos"].to_numpy(dtype=np.int64) * len(names) + kind
    counts = np.bincount(cells, minlength=len(observed) * len(names))
    grid = counts.reshape(len(observed), len(names)).astype(float)
    return pd.DataFrame(grid, columns=[kinds[k] for k in names])


def lead_features(
    leads: pd.DataFrame,
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    *,
    customers: pd.DataFrame | None = None,
    companies: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    rules: ScoringRules | None = None,
    observation_days: float = 14.0,
    lookback_days: float = 90.0,
) -> pd.DataFrame:
    """The model's features, one row per eligible lead, indexed by ``lead_id``.

    Parameters
    ----------
    leads : pandas.DataFrame
        ``lead_id``, ``customer_id``, ``status``, ``created_at``; ``source``, ``channel``,
        ``company_id``, ``budget``, ``authority``, ``need``, ``timing_days`` when known.
    as_of : date, datetime or str
        Nothing after it is seen.
    customers, companies, activities, events : pandas.DataFrame, optional
        As for :func:`rule_scores`.
    rules : ScoringRules, optional
        For the role keywords (default: :data:`EXAMPLE_RULES`).
    observation_days : float
        Each lead is described as of ``min(created_at + observation_days, as_of)``.
    lookback_days : float
        Activities and email events within this many days before that point are counted.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CATEGORICAL_FEATURES` (str, missing as ``"(missing)"``) and
        :data:`NUMERIC_FEATURES` (float), plus ``created_at`` (for the time split; not
        a model input).
    """
    require_columns(leads, [LEAD_ID, CUSTOMER_ID, STATUS, CREATED_AT], "leads")
    if observation_days < 0:
        raise InvalidParameterError("observation_days", observation_days, "a number >= 0")
    if lookback_days <= 0:
        raise InvalidParameterError("lookback_days", lookback_days, "a number > 0")
    rules = rules or load_scoring_rules(EXAMPLE_RULES)
    stamp = _stamp(as_of)
    lead = eligible_leads(leads).reset_index(drop=True)
    n = len(lead)
    created = pd.to_datetime(lead[CREATED_AT], utc=True)
    out = pd.DataFrame(index=pd.Index(lead[LEAD_ID].to_numpy(), name=LEAD_ID))

    def text(col: str, frame: pd.DataFrame = lead, pos: np.ndarray | None = None) -> np.ndarray:
        if col not in frame.columns:
            return np.full(n, "(missing)", dtype=object)
        values = frame[col].astype("str").array
        if pos is not None:
            values = values.take(pos, allow_fill=True)
        return pd.Series(values, dtype="str").fillna("(missing)").to_numpy(dtype=object)

    company = (
        lead[COMPANY_ID].astype("Int64")
        if COMPANY_ID in lead.columns
        else pd.Series(pd.NA, index=lead.index, dtype="Int64")
    )
    cpos = np.full(n, -1)
    if customers is not None:
        cpos = pd.Index(customers[CUSTOMER_ID]).get_indexer(lead[CUSTOMER_ID])
    out[SOURCE] = text(SOURCE)
    out[CHANNEL] = text(CHANNEL)
    kpos = (
        pd.Index(companies[COMPANY_ID]).get_indexer(company)
        if companies is not None
        else np.full(n, -1)
    )
    for col in ("industry", "size_band"):
        out[col] = text(col, companies, kpos) if companies is not None else text(col)
    if customers is not None:
        roles = contact_roles(customers, rules)
        out["role"] = text("role", pd.DataFrame({"role": roles.to_numpy()}), cpos)
    else:
        out["role"] = "(missing)"
    if "authority" in lead.columns:
        auth = lead["authority"].astype("boolean")
        out["authority"] = np.where(
            auth.isna(), "(missing)", np.where(auth.fillna(False), "yes", "no")
        )
    else:
        out["authority"] = "(missing)"
    out["need"] = text("need")
    budget = (
        pd.to_numeric(lead["budget"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if "budget" in lead.columns
        else np.full(n, np.nan)
    )
    out["log_budget"] = np.log1p(np.nan_to_num(np.maximum(budget, 0), nan=0.0))
    out["budget_given"] = np.isfinite(budget).astype(float)
    timing = (
        pd.to_numeric(lead["timing_days"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if "timing_days" in lead.columns
        else np.full(n, np.nan)
    )
    out["timing_given"] = np.isfinite(timing).astype(float)
    out["timing_days"] = np.nan_to_num(timing, nan=0.0)

    observed_at = created + pd.Timedelta(days=observation_days)
    observed_at = observed_at.where(observed_at < stamp, stamp)
    observed = pd.DataFrame(
        {CUSTOMER_ID: lead[CUSTOMER_ID].to_numpy(), "pos": np.arange(n), "observed_at": observed_at}
    )
    for frame, kinds, done in (
        (activities, _ACTIVITY_FEATURE, True),
        (events, {"opened": "opened", "clicked": "clicked"}, False),
    ):
        if frame is None:
            for name in kinds.values():
                out[name] = 0.0
            continue
        counts = _window_counts(frame, observed, kinds, lookback_days, done)
        for name in kinds.values():
            out[name] = counts[name].to_numpy()
    out[CREATED_AT] = created.array  # not .to_numpy(): an object array of Timestamps
    return out


def lead_labels(
    leads: pd.DataFrame,
    deals: pd.DataFrame,
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    *,
    maturity_days: float = 90.0,
) -> pd.Series:
    """Outcome of each eligible lead: 1 won, 0 not won, missing when not known yet.

    Leads created more than ``maturity_days`` before ``as_of`` are labelled: 1 when a won
    deal exists for the lead, 0 when it has no deal or only lost ones; missing while a deal
    is open (and no deal is won). Younger leads are missing whatever their outcome (see the
    module notes). Deals closed after ``as_of`` count as open; deals created after it are
    ignored.

    Returns
    -------
    pandas.Series
        ``Int8`` (nullable), indexed by ``lead_id``, named ``won``.
    """
    require_columns(leads, [LEAD_ID, STATUS, CREATED_AT], "leads")
    require_columns(deals, [LEAD_ID, STATUS], "deals")
    stamp = _stamp(as_of)
    lead = eligible_leads(leads)
    status = deals[STATUS].astype("str")
    if "closed_at" in deals.columns:
        closed_at = pd.to_datetime(deals["closed_at"], utc=True)
        status = status.where(~(closed_at > stamp).to_numpy(dtype=bool), "open")
    if CREATED_AT in deals.columns:
        started = pd.to_datetime(deals[CREATED_AT], utc=True)
        status = status.where(~(started > stamp).to_numpy(dtype=bool), "later")
    per = pd.DataFrame(
        {
            LEAD_ID: deals[LEAD_ID].to_numpy(),
            "won": (status == "won").to_numpy(dtype=bool),
            "open": (status == "open").to_numpy(dtype=bool),
            "any": (status != "later").to_numpy(dtype=bool),
        }
    ).dropna(subset=[LEAD_ID])
    agg = per.groupby(LEAD_ID).agg(won=("won", "any"), open=("open", "any"), any=("any", "any"))
    agg = agg.reindex(pd.Index(lead[LEAD_ID], name=LEAD_ID), fill_value=False)
    old = (_age_days(lead[CREATED_AT], stamp) > maturity_days).astype(bool)
    # young leads are left out whatever their outcome: labelling their quick wins but not
    # their slow losses would make recent leads look better than they are
    label = np.where(~old | (agg["open"] & ~agg["won"]), -1, agg["won"].astype(int))
    out = pd.Series(label, index=agg.index, name="won").astype("Int8")
    return out.mask(out < 0)
