"""The scored base: profiles with RFM, customer value, personal budget, loyalty share and lead score.

:func:`score_base` is the compute step of a segments run (S2–S5): it takes the profiles that
:func:`crm.profiles.build_profiles` made and the frames they came from, and adds per customer

* RFM recency and scores and the named RFM segment (:mod:`segments.rfm`);
* the BG/NBD and Gamma-Gamma value over the horizon and the personal CRM budget
  (:mod:`segments.value`);
* the loyalty share (:func:`loyalty_share`);
* the best rule score of the customer's open leads (:mod:`segments.scoring`), and, per lead,
  its rule score, its five biggest factors and the trained model's probability.

Each part needs a minimum of data (the thresholds below); under it the part is left empty
and :attr:`ScoredBase.notes` says why, so a small or young base still gets its profiles.
Pure: frames in, frames out, ``as_of`` an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crm.asof import as_instant
from crm.measures import repeat_share
from segments.errors import EmptyBaseError
from segments.funnel import lead_funnel
from segments.rfm import RFMScorer, btyd_summary, rfm_frame
from segments.scoring import (
    LeadScoringModel,
    ScoringRules,
    account_scores,
    evaluate_time_holdout,
    explain,
    lead_features,
    lead_labels,
    rule_scores,
)
from segments.value import BetaGeoModel, GammaGammaModel, customer_value, personal_budget

__all__ = [
    "MAX_TRAIN_LEADS",
    "MIN_CLASS_LEADS",
    "MIN_REPEAT_BUYERS",
    "MIN_TRAIN_LEADS",
    "MIN_VALUE_BUYERS",
    "OPEN_LEAD_STATUSES",
    "BaseFit",
    "ScoredBase",
    "fit_base",
    "loyalty_share",
    "score_base",
    "score_fitted",
]

#: The value models are fitted only on at least this many buyers ...
MIN_VALUE_BUYERS = 50
#: ... of whom at least this many bought more than once (Gamma-Gamma fits repeat buyers only).
MIN_REPEAT_BUYERS = 20
#: The lead model is trained only on at least this many closed (labelled) leads ...
MIN_TRAIN_LEADS = 200
#: ... with at least this many of each outcome (won and not won).
MIN_CLASS_LEADS = 20
#: At most this many closed leads train the lead model (a seeded sample above it): the fit's
#: quality plateaus long before a million leads, its cost does not.
MAX_TRAIN_LEADS = 50_000
#: Lead statuses that are still open: a customer's ``lead_score`` is the best of these.
OPEN_LEAD_STATUSES: tuple[str, ...] = ("new", "verified")

_VALUE_COLUMNS = (
    "expected_purchases",
    "probability_alive",
    "expected_spend",
    "predicted_value",
    "personal_budget",
)


@dataclass
class ScoredBase:
    """What :func:`score_base` computes: one scored profile per customer and the lead scores.

    Attributes
    ----------
    as_of : pandas.Timestamp
        The moment scored (aware, UTC).
    profiles : pandas.DataFrame
        The profiles with the scored columns, indexed by ``customer_id``.
    lead_scores : pandas.DataFrame
        ``lead_id, customer_id, company_id, rule_score, factors, model_probability``.
    notes : dict
        Fitted parameters, the account scores, the funnel, the lead model's holdout report,
        and a sentence for each part skipped for want of data.
    """

    as_of: pd.Timestamp
    profiles: pd.DataFrame
    lead_scores: pd.DataFrame
    notes: dict[str, Any] = field(default_factory=dict)


def loyalty_share(orders: pd.Series) -> pd.Series:
    """The share of a customer's paid orders that are repeat purchases (S5): ``(n - 1) / n``.

    0 for a customer without orders: :func:`crm.measures.repeat_share`, which
    :func:`loyalty.kpi.customer_kpis` reports as ``loyalty_pct`` (75 % there is 0.75 here).

    >>> loyalty_share(pd.Series([0, 1, 4])).tolist()
    [0.0, 0.0, 0.75]
    """
    return pd.Series(repeat_share(orders), index=orders.index, name="loyalty_share")


def _value(
    paid: pd.DataFrame, as_of: pd.Timestamp, margin: float, share: float, horizon: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    summary = btyd_summary(paid, as_of, period="D")
    repeat = summary[summary["frequency"] > 0]
    if len(summary) < MIN_VALUE_BUYERS or len(repeat) < MIN_REPEAT_BUYERS:
        return pd.DataFrame(index=summary.index[:0]), {"value": "too few buyers to fit"}
    bgnbd = BetaGeoModel().fit(summary)
    gamma = GammaGammaModel().fit(repeat)
    values = customer_value(summary, bgnbd, gamma, horizon=horizon)
    budget = personal_budget(values, margin, share)
    values["personal_budget"] = budget.customers["budget"]
    notes = {
        "bgnbd": {k: round(float(v), 4) for k, v in dict(bgnbd.params_).items()},
        "gamma_gamma": {k: round(float(v), 4) for k, v in dict(gamma.params_).items()},
    }
    return values, notes


def _top_factors(contributions: pd.DataFrame, top: int = 5) -> pd.Series:
    """The ``top`` biggest contributions of each lead, as one readable line per lead."""
    c = contributions.sort_values(["lead_id", "points"], ascending=[True, False])
    c = c[(c["points"].abs() >= 0.05).to_numpy()]
    c = c[(c.groupby("lead_id", sort=False).cumcount() < top).to_numpy()]
    text = c["factor"].astype(str) + " " + c["points"].map("{:+.1f}".format)
    return _join_by(c["lead_id"].to_numpy(), text.to_numpy(dtype=object), "; ")


def _join_by(keys: np.ndarray, texts: np.ndarray, sep: str) -> pd.Series:
    """``texts`` joined with ``sep`` per key, keys in first-seen order: what
    ``groupby(keys, sort=False).agg(sep.join)`` gives, without a Python call per group."""
    codes, uniques = pd.factorize(keys)
    known = codes >= 0
    codes, texts = codes[known], texts[known]
    order = np.argsort(codes, kind="stable")
    codes, pieces = codes[order], texts[order].astype(object)
    if not len(codes):
        return pd.Series([], index=uniques[:0], dtype=object)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    later = np.ones(len(pieces), dtype=bool)
    later[starts] = False
    pieces[later] = sep + pieces[later]
    return pd.Series(np.add.reduceat(pieces, starts), index=uniques[codes[starts]], dtype=object)


def _trainable(labels: pd.Series) -> bool:
    return (
        len(labels) >= MIN_TRAIN_LEADS
        and labels.nunique() == 2
        and labels.value_counts().min() >= MIN_CLASS_LEADS
    )


def _leads(
    tables: dict[str, pd.DataFrame], rules: ScoringRules, as_of: pd.Timestamp
) -> tuple[pd.DataFrame, dict[str, Any]]:
    leads = tables["leads"]
    leads = leads[(leads["created_at"] <= as_of).to_numpy()]
    customers, companies = tables["customers"], tables.get("companies")
    activities, events = tables.get("activities"), tables.get("marketing_events")
    scored = rule_scores(
        leads, rules, as_of, customers=customers, companies=companies,
        activities=activities, events=events,
    )  # fmt: skip
    out = scored.scores[["lead_id", "customer_id", "company_id", "score"]].rename(
        columns={"score": "rule_score"}
    )
    out["factors"] = out["lead_id"].map(_top_factors(scored.contributions))
    out["model_probability"] = np.nan
    notes: dict[str, Any] = {
        "accounts": account_scores(scored.scores, tables["customers"], rules),
        "funnel": lead_funnel(leads, tables["deals"], by=("source",), total=True),
    }
    features = lead_features(
        leads, as_of, rules=rules, customers=customers, companies=companies,
        activities=activities, events=events,
    )  # fmt: skip
    labels = lead_labels(leads, tables["deals"], as_of).reindex(features.index)
    known = labels.dropna()
    if len(known) > MAX_TRAIN_LEADS:
        known = known.sample(n=MAX_TRAIN_LEADS, random_state=0).sort_index()
    if not _trainable(known):
        notes["lead_model"] = "too few closed leads to train on"
        return out, notes
    notes["lead_model"] = evaluate_time_holdout(features.loc[known.index], known)
    model = LeadScoringModel().fit(features.loc[known.index], known.astype(int))
    matrix = model.transform(features)  # once, for the probabilities and the reasons
    proba = pd.Series(model.predict_proba(features, matrix=matrix)[:, 1], index=features.index)
    out["model_probability"] = out["lead_id"].map(proba)
    top3 = explain(model, features, top=3, matrix=matrix)
    why = _join_by(top3["lead_id"].to_numpy(), top3["feature"].to_numpy(dtype=object), ", ")
    out["factors"] = out["factors"].fillna("") + " | model: " + out["lead_id"].map(why).fillna("")
    return out, notes


@dataclass
class BaseFit:
    """The global part of a scoring run, fitted once and shared by every partition.

    :func:`fit_base` computes it over the whole base (the RFM cut points, the BG/NBD and
    Gamma-Gamma fits, the lead scores and the lead model); :func:`score_fitted` applies it to
    the profiles of any set of customers. :meth:`for_customers` keeps only what one partition
    needs, so a cluster ships each worker its own rows and the fitted parameters.

    Attributes
    ----------
    as_of : pandas.Timestamp
    n_bins : int
    rfm : pandas.DataFrame
        RFM recency, frequency and monetary per buyer (:func:`segments.rfm.rfm_frame`).
    scorer : RFMScorer or None
        Fitted on every buyer's RFM (None when there are fewer buyers than bins).
    values : pandas.DataFrame
        Predicted value and personal budget per buyer (empty when the models were not fitted).
    lead_scores : pandas.DataFrame
        Every lead's rule score, factors and model probability.
    best_lead : pandas.Series
        The best rule score of each customer's open leads.
    notes : dict
        As :attr:`ScoredBase.notes`.
    """

    as_of: pd.Timestamp
    n_bins: int
    rfm: pd.DataFrame
    scorer: RFMScorer | None
    values: pd.DataFrame
    lead_scores: pd.DataFrame
    best_lead: pd.Series
    notes: dict[str, Any] = field(default_factory=dict)

    def for_customers(self, ids: pd.Index) -> BaseFit:
        """This fit with the per-customer frames cut to ``ids`` (the fitted parts kept)."""
        return BaseFit(
            as_of=self.as_of,
            n_bins=self.n_bins,
            rfm=self.rfm[self.rfm.index.isin(ids)],
            scorer=self.scorer,
            values=self.values[self.values.index.isin(ids)],
            lead_scores=self.lead_scores.iloc[:0],
            best_lead=self.best_lead[self.best_lead.index.isin(ids)],
            notes={},
        )


def fit_base(
    customer_ids: pd.Index,
    tables: dict[str, pd.DataFrame],
    as_of: Any,
    *,
    scoring_rules: ScoringRules,
    n_bins: int = 5,
    margin: float = 0.3,
    share: float = 0.1,
    horizon_months: int = 12,
) -> BaseFit:
    """The global statistics of a scoring run over the customers ``customer_ids``.

    RFM is measured on every buyer and the cut points learned from all of them; the value
    models are fitted on every buyer and each buyer's value predicted (a per-row formula of
    the fitted parameters); the leads are scored and the lead model trained over all leads
    (a lead's account and company span customers). Parameters as :func:`score_base`.
    """
    at = as_instant(as_of)
    orders = tables["orders"]
    paid = orders[
        (orders["status"] == "paid").to_numpy()
        & (orders["ordered_at"] <= at).to_numpy()
        & orders["customer_id"].isin(customer_ids).to_numpy()
    ]
    rfm = rfm_frame(paid, at)
    # fewer buyers than bins: no quantiles to learn
    scorer = RFMScorer(n_bins=n_bins).fit(rfm) if len(rfm) >= n_bins else None
    values, notes = _value(paid, at, margin, share, horizon_months)
    leads, lead_notes = _leads(tables, scoring_rules, at)
    notes.update(lead_notes)
    all_leads = tables["leads"]
    open_ids = all_leads.loc[all_leads["status"].isin(OPEN_LEAD_STATUSES).to_numpy(), "lead_id"]
    open_leads = leads[leads["lead_id"].isin(open_ids).to_numpy()]
    best = open_leads.dropna(subset=["customer_id"]).groupby("customer_id")["rule_score"].max()
    if scorer is not None:
        notes["rfm_cut_points"] = {k: v.tolist() for k, v in scorer.cut_points_.items()}
    else:
        notes["rfm"] = f"fewer buyers than the {n_bins} RFM bins: no RFM scores"
    return BaseFit(at, n_bins, rfm, scorer, values, leads, best, notes)


def score_fitted(profiles: pd.DataFrame, fit: BaseFit) -> pd.DataFrame:
    """Add the scored columns to ``profiles`` with a fitted :class:`BaseFit` (row by row).

    Each customer's scores depend only on their own rows and the fit, so scoring the base in
    partitions and concatenating gives the scores of the whole base at once.
    """
    profiles = profiles.copy()
    scorer, rfm = fit.scorer, fit.rfm
    rfm = rfm.join(scorer.segment_frame(rfm)) if scorer is not None else rfm.iloc[:0]
    rfm = rfm.rename(columns={"segment": "rfm_segment"})
    for col in ("recency", "r_score", "f_score", "m_score"):
        profiles[col] = rfm[col].reindex(profiles.index).astype("Int64") if col in rfm else pd.NA
    profiles["frequency"] = profiles["orders"]
    profiles["monetary"] = profiles["revenue"]
    profiles["rfm_code"] = rfm["rfm_code"].reindex(profiles.index) if len(rfm) else None
    profiles["rfm_segment"] = (
        rfm["rfm_segment"].astype("object").reindex(profiles.index) if len(rfm) else None
    )
    values = fit.values
    for col in _VALUE_COLUMNS:
        profiles[col] = values[col].reindex(profiles.index) if col in values else np.nan
    profiles["loyalty_share"] = loyalty_share(profiles["orders"])
    profiles["lead_score"] = fit.best_lead.reindex(profiles.index)
    profiles["as_of"] = fit.as_of
    return profiles


def score_base(
    profiles: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    as_of: Any,
    *,
    scoring_rules: ScoringRules,
    n_bins: int = 5,
    margin: float = 0.3,
    share: float = 0.1,
    horizon_months: int = 12,
) -> ScoredBase:
    """Add RFM, value, personal budget, loyalty share and lead score to each profile.

    Parameters
    ----------
    profiles : pandas.DataFrame
        One row per active customer, indexed by ``customer_id``
        (:func:`crm.profiles.build_profiles`), with at least ``orders`` and ``revenue``.
    tables : dict of str to DataFrame
        The frames the profiles came from: ``orders`` (``customer_id, ordered_at, amount,
        status``), ``leads``, ``deals`` and ``customers``; ``companies``, ``activities`` and
        ``marketing_events`` when there are any.
    as_of : date, datetime or ISO text
        The moment scored (:func:`crm.asof.as_instant`: a bare date is the end of that day).
    scoring_rules : ScoringRules
        The marketer's lead-scoring rules.
    n_bins : int, default 5
        RFM score bins.
    margin, share : float
        Personal budget = predicted value × ``margin`` × ``share`` (S4).
    horizon_months : int, default 12
        Horizon of the predicted value.

    Returns
    -------
    ScoredBase

    Raises
    ------
    EmptyBaseError
        When there are no profiles to score (an empty base), saying so in a sentence.

    Examples
    --------
    >>> profiles = build_profiles(tables, as_of)
    >>> scored = score_base(profiles, tables, as_of, scoring_rules=load_scoring_rules(EXAMPLE_RULES))
    >>> scored.profiles[["rfm_segment", "predicted_value", "personal_budget", "lead_score"]]
    """
    at = as_instant(as_of)
    if profiles.empty:
        raise EmptyBaseError(
            "customers",
            "there are no active customers to score yet; import customers and orders "
            "(`crm import`) or load the sample data (`crm sample`) first",
        )
    fit = fit_base(
        profiles.index,
        tables,
        at,
        scoring_rules=scoring_rules,
        n_bins=n_bins,
        margin=margin,
        share=share,
        horizon_months=horizon_months,
    )
    return ScoredBase(
        as_of=at,
        profiles=score_fitted(profiles, fit),
        lead_scores=fit.lead_scores,
        notes=fit.notes,
    )
