"""Rule scores of leads (S3): the marketer's points, every point explained.

See :mod:`segments.scoring` for how fit, BANT and decayed behaviour points add up, with caps
appearing as negative ``cap`` rows so a lead's score is exactly the sum of its contributions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from crm.columns import (
    COMPANY_ID,
    CUSTOMER_ID,
    LEAD_ID,
    OCCURRED_AT,
    STATUS,
)
from segments.errors import require_columns
from segments.leads import _age_days, _stamp, contact_roles, eligible_leads
from segments.scoring_rules import Behaviour, ScoringRules

__all__ = ["RuleScores", "rule_scores"]


class _Pieces:
    """Collects contribution rows as arrays (lead position, factor, detail code, points)."""

    def __init__(self, n_leads: int) -> None:
        self.n = n_leads
        self.pos: list[np.ndarray] = []
        self.factor: list[np.ndarray] = []
        self.detail: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.factors: dict[str, int] = {}
        self.details: dict[str, int] = {}
        self.group: dict[str, np.ndarray] = {}

    def _code(self, table: dict[str, int], name: str) -> int:
        return table.setdefault(name, len(table))

    def add(
        self,
        group: str,
        factor: str,
        pos: np.ndarray,
        detail_codes: np.ndarray,
        detail_names: Sequence[str],
        points: np.ndarray,
    ) -> None:
        """Rows for ``pos`` with details ``detail_names[detail_codes]``; zero points dropped."""
        points = np.asarray(points, dtype=float)
        keep = np.isfinite(points) & (points != 0)
        pos, detail_codes, points = pos[keep], np.asarray(detail_codes)[keep], points[keep]
        if not len(pos):
            return
        remap = np.array([self._code(self.details, str(d)) for d in detail_names], dtype=np.int64)
        self.pos.append(pos.astype(np.int64, copy=False))
        self.factor.append(np.full(len(pos), self._code(self.factors, factor), dtype=np.int64))
        self.detail.append(remap[detail_codes])
        self.points.append(points)
        total = self.group.setdefault(group, np.zeros(self.n))
        total += np.bincount(pos, weights=points, minlength=self.n)

    def frame(self, lead_ids: np.ndarray) -> pd.DataFrame:
        if self.pos:
            pos = np.concatenate(self.pos)
            factor = np.concatenate(self.factor)
            detail = np.concatenate(self.detail)
            points = np.concatenate(self.points)
        else:
            pos = factor = detail = np.empty(0, dtype=np.int64)
            points = np.empty(0)
        order = np.argsort(pos, kind="stable")
        return pd.DataFrame(
            {
                LEAD_ID: lead_ids[pos[order]],
                "factor": pd.Categorical.from_codes(
                    factor[order], pd.Index(list(self.factors) or ["-"])
                ),
                "detail": pd.Categorical.from_codes(
                    detail[order], pd.Index(list(self.details) or ["-"])
                ),
                "points": points[order],
            }
        )


def _add_mapped(
    pieces: _Pieces, group: str, factor: str, values: pd.Series, points: Mapping[str, float]
) -> None:
    """Points of a categorical value (``industry``, ``size_band``, ``role``…) per lead."""
    if not points:
        return
    names = list(points)
    codes = pd.Index(names).get_indexer(pd.Index(values.astype("str")))
    hit = codes >= 0
    pts = np.array([points[k] for k in names], dtype=float)
    pieces.add(group, factor, np.flatnonzero(hit), codes[hit], names, pts[codes[hit]])


def _decayed(
    frame: pd.DataFrame,
    kind_col: str,
    weights: Mapping[str, float],
    behaviour: Behaviour,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Per customer and kind, the decayed points: ``sum(weight × 0.5 ** (age / half_life))``."""
    require_columns(frame, [CUSTOMER_ID, kind_col, OCCURRED_AT], "activities/events")
    age = _age_days(frame[OCCURRED_AT], as_of)
    kind = frame[kind_col].astype("str")
    names = list(weights)
    code = pd.Index(names).get_indexer(pd.Index(kind))
    keep = (code >= 0) & (age >= 0) & (age <= behaviour.lookback_days)
    if behaviour.only_done and "done" in frame.columns:
        keep = keep & frame["done"].fillna(False).to_numpy(dtype=bool)
    w = np.array([weights[k] for k in names], dtype=float)
    pts = w[code[keep]] * np.exp2(-age[keep] / behaviour.half_life_days)
    out = pd.DataFrame(
        {CUSTOMER_ID: frame[CUSTOMER_ID].to_numpy()[keep], "code": code[keep], "points": pts}
    )
    return out.groupby([CUSTOMER_ID, "code"], sort=False)["points"].sum().reset_index()


class RuleScores(NamedTuple):
    """What :func:`rule_scores` returns: one row per lead, and the points that make it up."""

    scores: pd.DataFrame
    contributions: pd.DataFrame


def rule_scores(
    leads: pd.DataFrame,
    rules: ScoringRules,
    as_of: dt.date | dt.datetime | pd.Timestamp | str,
    *,
    customers: pd.DataFrame | None = None,
    companies: pd.DataFrame | None = None,
    activities: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> RuleScores:
    """Score every eligible lead with the marketer's rules, explaining each point.

    Parameters
    ----------
    leads : pandas.DataFrame
        ``lead_id``, ``customer_id``, ``status``; optionally ``company_id``, ``budget``,
        ``authority``, ``need``, ``timing_days`` (a missing column gives no points).
        Disqualified and spam leads are dropped (:data:`EXCLUDED_STATUSES`).
    rules : ScoringRules
        From :func:`load_scoring_rules`.
    as_of : date, datetime or str
        The moment behaviour is decayed to; actions after it are ignored.
    customers : pandas.DataFrame, optional
        ``customer_id`` and ``job_title`` (and ``role``/``seniority`` when a hygiene pass
        added them; ``company_id`` fills a lead's missing company).
    companies : pandas.DataFrame, optional
        ``company_id``, ``industry``, ``size_band``.
    activities : pandas.DataFrame, optional
        ``customer_id``, ``kind``, ``occurred_at`` (and ``done``).
    events : pandas.DataFrame, optional
        Marketing events: ``customer_id``, ``kind``, ``occurred_at``.

    Returns
    -------
    RuleScores
        ``scores``: ``lead_id, customer_id, company_id, fit, bant, behaviour, score`` (groups
        after their caps, ``score`` after the total cap), in the leads' order.
        ``contributions``: ``lead_id, factor, detail, points`` with non-zero points only;
        per lead they sum to ``score``.

    Notes
    -----
    Behaviour belongs to the contact (activities and events carry ``customer_id``), so two
    open leads of one person get the same behaviour points. BANT timing is the stated
    ``timing_days`` at inquiry; staleness is left to the behaviour decay.
    """
    require_columns(leads, [LEAD_ID, CUSTOMER_ID, STATUS], "leads")
    stamp = _stamp(as_of)
    lead = eligible_leads(leads).reset_index(drop=True)
    n = len(lead)
    pieces = _Pieces(n)
    cust_ids = lead[CUSTOMER_ID]

    # ---- who: company and contact
    company = (
        lead[COMPANY_ID].astype("Int64")
        if COMPANY_ID in lead.columns
        else pd.Series(pd.NA, index=lead.index, dtype="Int64")
    )
    cpos = np.full(n, -1)
    if customers is not None:
        require_columns(customers, [CUSTOMER_ID], "customers")
        cindex = pd.Index(customers[CUSTOMER_ID])
        cpos = cindex.get_indexer(cust_ids)
        if COMPANY_ID in customers.columns:
            from_contact = customers[COMPANY_ID].astype("Int64").array.take(cpos, allow_fill=True)
            company = company.fillna(pd.Series(from_contact, index=lead.index))
    if companies is not None and (rules.fit.industry or rules.fit.size_band):
        require_columns(companies, [COMPANY_ID], "companies")
        kpos = pd.Index(companies[COMPANY_ID]).get_indexer(company)
        for col in ("industry", "size_band"):
            if col in companies.columns:
                vals = pd.Series(companies[col].astype("str").array.take(kpos, allow_fill=True))
                _add_mapped(pieces, "fit", col, vals, getattr(rules.fit, col))
    if customers is not None:
        if rules.fit.role:
            roles = contact_roles(customers, rules)
            vals = pd.Series(roles.array.take(cpos, allow_fill=True))
            _add_mapped(pieces, "fit", "role", vals, rules.fit.role)
        if rules.fit.seniority and "seniority" in customers.columns:
            vals = pd.Series(customers["seniority"].astype("str").array.take(cpos, allow_fill=True))
            _add_mapped(pieces, "fit", "seniority", vals, rules.fit.seniority)

    # ---- BANT
    bant = rules.bant
    if bant.budget and "budget" in lead.columns:
        budget = pd.to_numeric(lead["budget"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        mins = np.array([t.min for t in bant.budget])
        idx = np.searchsorted(mins, np.nan_to_num(budget, nan=-1.0), side="right") - 1
        hit = np.flatnonzero(idx >= 0)
        pts = np.array([t.points for t in bant.budget])
        names = [f"budget >= {t.min:g}" for t in bant.budget]
        pieces.add("bant", "budget", hit, idx[hit], names, pts[idx[hit]])
    if bant.authority and "authority" in lead.columns:
        yes = np.flatnonzero(lead["authority"].astype("boolean").fillna(False).to_numpy(dtype=bool))
        pieces.add("bant", "authority", yes, np.zeros(len(yes), int), ["can sign"],
                   np.full(len(yes), bant.authority))  # fmt: skip
    if (bant.need.present or bant.need.values) and "need" in lead.columns:
        need = lead["need"].astype("str")
        stated = need.notna() & (need.str.strip() != "")
        names = list(bant.need.values)
        code = pd.Index(names).get_indexer(pd.Index(need))
        pts = np.where(
            code >= 0, np.array([*bant.need.values.values(), 0.0])[code], bant.need.present
        )
        code = np.where(code >= 0, code, len(names))
        hit = np.flatnonzero(stated.fillna(False).to_numpy(dtype=bool))
        pieces.add("bant", "need", hit, code[hit], [*names, "stated"], pts[hit])
    if bant.timing and "timing_days" in lead.columns:
        days = pd.to_numeric(lead["timing_days"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        limits = np.array([t.within_days for t in bant.timing], dtype=float)
        idx = np.searchsorted(limits, np.nan_to_num(days, nan=np.inf), side="left")
        hit = np.flatnonzero((idx < len(limits)) & (days > 0))
        pts = np.array([t.points for t in bant.timing])
        names = [f"within {t.within_days} days" for t in bant.timing]
        pieces.add("bant", "timing", hit, idx[hit], names, pts[idx[hit]])

    # ---- behaviour, decayed to as_of
    beh = rules.behaviour
    lead_of = pd.DataFrame({CUSTOMER_ID: cust_ids.to_numpy(), "pos": np.arange(n)})
    for factor, frame, weights in (
        ("activity", activities, beh.activities),
        ("email", events, beh.events),
    ):
        if frame is None or not weights or not n:
            continue
        per = _decayed(frame, "kind", weights, beh, stamp)
        joined = lead_of.merge(per, on=CUSTOMER_ID, how="inner")
        pieces.add("behaviour", factor, joined["pos"].to_numpy(), joined["code"].to_numpy(),
                   list(weights), joined["points"].to_numpy())  # fmt: skip

    # ---- caps: each cut is a negative "cap" row so the rows still add up to the score
    groups = {g: pieces.group.get(g, np.zeros(n)) for g in ("fit", "bant", "behaviour")}
    for g, values in groups.items():
        cap = getattr(rules.caps, g)
        if cap is not None:
            over = np.flatnonzero(values > cap)
            pieces.add("cap", "cap", over, np.zeros(len(over), int), [f"{g} cap {cap:g}"],
                       cap - values[over])  # fmt: skip
            groups[g] = np.minimum(values, cap)
    total = groups["fit"] + groups["bant"] + groups["behaviour"]
    if rules.caps.total is not None:
        over = np.flatnonzero(total > rules.caps.total)
        pieces.add("cap", "cap", over, np.zeros(len(over), int),
                   [f"total cap {rules.caps.total:g}"], rules.caps.total - total[over])  # fmt: skip
        total = np.minimum(total, rules.caps.total)

    lead_ids = lead[LEAD_ID].to_numpy()
    scores = pd.DataFrame(
        {
            LEAD_ID: lead_ids,
            CUSTOMER_ID: cust_ids.to_numpy(),
            COMPANY_ID: company.to_numpy(),
            **groups,
            "score": total,
        }
    )
    scores[COMPANY_ID] = scores[COMPANY_ID].astype("Int64")
    return RuleScores(scores, pieces.frame(lead_ids))
