"""Lead scoring: marketer rules, a calibrated scikit-learn model, account-level scores (S3, S6).

Three views of a lead's readiness to buy, all vectorised over whole frames:

* **Rules** (:func:`load_scoring_rules`, :func:`rule_scores`). A marketer writes points in
  YAML (``segments/scoring.example.yaml``): *fit* (company industry and size band, the
  contact's buying role and seniority), *BANT* (budget thresholds, authority, stated need,
  timing) and *behaviour* (activities and email opens/clicks, each worth its points times
  ``0.5 ** (age_days / half_life_days)`` as of ``as_of``), each group capped and the total
  capped. Every point given is listed in a long *contributions* frame
  (``lead_id, factor, detail, points``); a lead's score is exactly the sum of its rows, caps
  appearing as negative ``cap`` rows.
* **Model** (:func:`lead_features`, :func:`lead_labels`, :class:`LeadScoringModel`,
  :func:`evaluate_time_holdout`, :func:`explain`). A logistic regression on one-hot and
  standardised features, calibrated (:class:`~sklearn.calibration.CalibratedClassifierCV`),
  trained on historical leads with a known outcome and judged on newer leads than it saw.
* **Accounts** (:func:`account_scores`). A company's score aggregates its contacts' scores
  (max, mean, how many), and names the expected buying roles (decision maker, finance,
  legal…) with no contact: a missing role means the score is built on part of the buying
  committee, so the account score is discounted per missing role and says so.

Disqualified and spam leads (D2) are never scored, never used for training and never
counted in an account: they are not "lost" leads, they were never target leads.

Labels (model)
--------------
Only *mature* leads, created more than ``maturity_days`` before ``as_of`` (90 by default: in
the sample data a lead converts within ~17 days and a deal closes within 60), get a label.
A mature lead is positive when a *won* deal exists for it, negative when it has no deal or
only closed deals without a win, and unlabelled while a deal is still open. Younger leads
are left out of training and evaluation whatever their outcome: their quick wins are
already known but their slow losses are not, so labelling them would inflate the win rate
of exactly the newest leads a time holdout tests on.

Features (model)
----------------
What was known about a lead shortly after it came in: source and channel, the company's
industry and size band, the contact's role, the BANT answers (log budget and whether it was
given, authority yes/no/unknown, need, timing and whether it was given), and the contact's
activities and email opens/clicks in the ``lookback_days`` before the *observation point*
``min(created_at + observation_days, as_of)``. The lead's status and dates (qualified,
converted) are never features: they are the outcome.

Explanations (model)
--------------------
:func:`explain` splits the log-odds of the (uncalibrated, fold-averaged) logistic regression
into one term per input feature: ``coef × (x − mean_x)`` summed over the columns a feature
becomes (one per category, one for a standardised number), with ``mean_x`` the training
mean. Terms add up to ``logit(lead) − logit(average training lead)``; a positive term raises
the lead above the average lead. Calibration is a monotone map on top, so the ranking of
reasons is that of the calibrated probability.

Example
-------
>>> rules = load_scoring_rules("segments/scoring.example.yaml")
>>> scored = rule_scores(leads, rules, as_of, customers=customers, companies=companies,
...                      activities=activities, events=marketing_events)
>>> scored.scores.head()          # lead_id, customer_id, company_id, fit, bant, behaviour, score
>>> scored.contributions.head()   # lead_id, factor, detail, points
>>> account_scores(scored.scores, customers, rules)
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from crm.asof import AsOfError, as_instant
from crm.columns import (
    ACTIVITY_KINDS,
    CHANNEL,
    COMPANY_ID,
    CREATED_AT,
    CUSTOMER_ID,
    EVENT_KINDS,
    LEAD_ID,
    OCCURRED_AT,
    SOURCE,
    STATUS,
)
from segments.errors import (
    InvalidDataError,
    InvalidParameterError,
    MissingColumnsError,
    ScoringRulesError,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "EXAMPLE_RULES",
    "EXCLUDED_STATUSES",
    "NUMERIC_FEATURES",
    "AccountRules",
    "Bant",
    "Behaviour",
    "Caps",
    "Fit",
    "HoldoutReport",
    "LeadScoringModel",
    "RoleRule",
    "RuleScores",
    "ScoringRules",
    "account_scores",
    "contact_roles",
    "eligible_leads",
    "evaluate_time_holdout",
    "explain",
    "lead_features",
    "lead_labels",
    "load_scoring_rules",
    "rule_scores",
]

#: The example rules file shipped with the package.
EXAMPLE_RULES = Path(__file__).with_name("scoring.example.yaml")
#: Lead statuses that are never scored, trained on or campaigned to (D2).
EXCLUDED_STATUSES: tuple[str, ...] = ("disqualified", "spam")

_CODE = r"^[a-z][a-z0-9_]*$"
_US_PER_DAY = 86_400_000_000


# =========================================================================== rules model
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleRule(_Strict):
    """A buying role and the job-title keywords that mean it (case-insensitive substrings)."""

    code: str = Field(pattern=_CODE)
    keywords: list[str] = Field(min_length=1)

    @field_validator("keywords")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not k.strip() for k in value):
            raise ValueError("a keyword may not be blank")
        return value


class Fit(_Strict):
    """Points for who the lead is: company industry and size band, contact role and seniority."""

    industry: dict[str, float] = {}
    size_band: dict[str, float] = {}
    role: dict[str, float] = {}
    seniority: dict[str, float] = {}


class Threshold(_Strict):
    """``points`` when the stated budget is at least ``min``."""

    min: float = Field(ge=0)
    points: float


class TimingWindow(_Strict):
    """``points`` when the purchase is planned within ``within_days``."""

    within_days: int = Field(gt=0)
    points: float


class Need(_Strict):
    """Points for a stated need: ``present`` for any, or the value's own points."""

    present: float = 0.0
    values: dict[str, float] = {}


class Bant(_Strict):
    """Budget, authority, need and timing points."""

    budget: list[Threshold] = []
    authority: float = 0.0
    need: Need = Need()
    timing: list[TimingWindow] = []

    @field_validator("budget")
    @classmethod
    def _increasing_budget(cls, value: list[Threshold]) -> list[Threshold]:
        mins = [t.min for t in value]
        if any(b <= a for a, b in itertools.pairwise(mins)):
            raise ValueError("budget thresholds must be listed with increasing min")
        return value

    @field_validator("timing")
    @classmethod
    def _increasing_timing(cls, value: list[TimingWindow]) -> list[TimingWindow]:
        days = [t.within_days for t in value]
        if any(b <= a for a, b in itertools.pairwise(days)):
            raise ValueError("timing windows must be listed with increasing within_days")
        return value


class Behaviour(_Strict):
    """Points per activity kind and email event kind, decayed with a half-life."""

    half_life_days: float = Field(14.0, gt=0)
    lookback_days: float = Field(180.0, gt=0)
    only_done: bool = True
    activities: dict[str, float] = {}
    events: dict[str, float] = {}

    @field_validator("activities")
    @classmethod
    def _known_activities(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(value) - set(ACTIVITY_KINDS))
        if bad:
            raise ValueError(f"unknown activity kind(s) {bad}; use {list(ACTIVITY_KINDS)}")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(value) - set(EVENT_KINDS))
        if bad:
            raise ValueError(f"unknown event kind(s) {bad}; use {list(EVENT_KINDS)}")
        return value


class Caps(_Strict):
    """Upper bounds per group and for the total (``None``: no cap)."""

    fit: float | None = Field(None, ge=0)
    bant: float | None = Field(None, ge=0)
    behaviour: float | None = Field(None, ge=0)
    total: float | None = Field(None, ge=0)


class AccountRules(_Strict):
    """The buying committee expected in a company, and the discount per missing role."""

    expected_roles: list[str] = []
    missing_role_penalty: float = Field(0.0, ge=0, le=1)


class ScoringRules(_Strict):
    """A whole rules file (see ``segments/scoring.example.yaml``)."""

    roles: list[RoleRule] = []
    fit: Fit = Fit()
    bant: Bant = Bant()
    behaviour: Behaviour = Behaviour()
    caps: Caps = Caps()
    account: AccountRules = AccountRules()

    @property
    def role_codes(self) -> tuple[str, ...]:
        """Role codes in first-seen order, plus ``"other"``."""
        codes = dict.fromkeys(r.code for r in self.roles)
        codes["other"] = None
        return tuple(codes)


# =========================================================================== YAML loading
def _line_map(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ScoringRulesError(
                    ".".join(map(str, (*path, key))),
                    f"duplicate key (first at line {seen[key]})",
                    line=key_node.start_mark.line + 1,
                )
            seen[key] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1  # the key's line, not the value's
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _cross_check(rules: ScoringRules, lines: dict[tuple[Any, ...], int], source: str) -> None:
    """Role codes used under ``fit.role`` and ``account.expected_roles`` must be declared."""
    known = set(rules.role_codes)
    for role in rules.fit.role:
        if role not in known:
            loc = ("fit", "role", role)
            raise ScoringRulesError(
                ".".join(loc), f"unknown role (declare it under roles: {sorted(known)})",
                _line_of(loc, lines), source,
            )  # fmt: skip
    for i, role in enumerate(rules.account.expected_roles):
        if role not in known:
            at = ("account", "expected_roles", i)
            raise ScoringRulesError(
                ".".join(map(str, at)),
                f"unknown role {role!r} (declare it under roles: {sorted(known)})",
                _line_of(at, lines),
                source,
            )


def load_scoring_rules(path_or_text: str | Path, source: str | None = None) -> ScoringRules:
    """Read and validate lead-scoring rules from a YAML file or YAML text.

    Parameters
    ----------
    path_or_text : str or pathlib.Path
        A path to a ``.yaml`` file, or the YAML text itself (any string with a newline).
    source : str, optional
        Name used in error messages (default: the path, or ``"<rules>"`` for text).

    Returns
    -------
    ScoringRules

    Raises
    ------
    ScoringRulesError
        With ``.field`` (dotted path, e.g. ``"bant.budget.1.min"``) and ``.line`` (1-based)
        of the first problem.

    >>> load_scoring_rules("behaviour:\\n  half_life_days: 7\\n").behaviour.half_life_days
    7.0
    """
    if isinstance(path_or_text, Path) or "\n" not in path_or_text:
        path = Path(path_or_text)
        text = path.read_text(encoding="utf-8")
        source = source or str(path)
    else:
        text = path_or_text
        source = source or "<rules>"
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ScoringRulesError(
            "<yaml>",
            f"not valid YAML: {exc.problem}",
            line=mark.line + 1 if mark is not None else None,
            source=source,
        ) from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        try:
            _line_map(node, (), lines)
        except ScoringRulesError as exc:
            raise ScoringRulesError(
                exc.field, str(exc).split(": ", 2)[-1], exc.line, source
            ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScoringRulesError("<root>", "the rules file must be a mapping of sections", 1, source)
    try:
        rules = ScoringRules.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        name = ".".join(str(p) for p in loc) or "<root>"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against scoring.example.yaml)"
        raise ScoringRulesError(name, message, _line_of(loc, lines), source) from None
    _cross_check(rules, lines, source)
    return rules


# =========================================================================== helpers
def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnsError(missing, what)


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
    _require(leads, [status_col], "leads")
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
    _require(customers, [CUSTOMER_ID], "customers")
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
    _require(frame, [CUSTOMER_ID, kind_col, OCCURRED_AT], "activities/events")
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


# =========================================================================== rule scores
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
    _require(leads, [LEAD_ID, CUSTOMER_ID, STATUS], "leads")
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
        _require(customers, [CUSTOMER_ID], "customers")
        cindex = pd.Index(customers[CUSTOMER_ID])
        cpos = cindex.get_indexer(cust_ids)
        if COMPANY_ID in customers.columns:
            from_contact = customers[COMPANY_ID].astype("Int64").array.take(cpos, allow_fill=True)
            company = company.fillna(pd.Series(from_contact, index=lead.index))
    if companies is not None and (rules.fit.industry or rules.fit.size_band):
        _require(companies, [COMPANY_ID], "companies")
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


# =========================================================================== account scores
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
    _require(scores, [CUSTOMER_ID, score_col], "scores")
    _require(customers, [CUSTOMER_ID, COMPANY_ID], "customers")
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


# =========================================================================== model: data
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
    _require(frame, [CUSTOMER_ID, "kind", OCCURRED_AT], "activities/events")
    keep = frame["kind"].isin(list(kinds)).to_numpy(dtype=bool)
    if only_done and "done" in frame.columns:
        keep = keep & frame["done"].fillna(False).to_numpy(dtype=bool)
    acts = pd.DataFrame(
        {
            CUSTOMER_ID: frame[CUSTOMER_ID].to_numpy()[keep],
            "kind": frame["kind"].astype("str").to_numpy()[keep],
            "at": pd.to_datetime(frame[OCCURRED_AT], utc=True).to_numpy()[keep],
        }
    )
    joined = observed.merge(acts, on=CUSTOMER_ID, how="inner")
    age = (joined["observed_at"] - joined["at"]).dt.total_seconds().to_numpy() / 86_400.0
    joined = joined[(age >= 0) & (age <= lookback_days)]
    counts = pd.crosstab(joined["pos"], joined["kind"])
    out = counts.reindex(index=np.arange(len(observed)), columns=list(kinds), fill_value=0)
    return out.rename(columns=dict(kinds)).fillna(0).astype(float)


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
    _require(leads, [LEAD_ID, CUSTOMER_ID, STATUS, CREATED_AT], "leads")
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
    out[CREATED_AT] = created.to_numpy()
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
    _require(leads, [LEAD_ID, STATUS, CREATED_AT], "leads")
    _require(deals, [LEAD_ID, STATUS], "deals")
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


# =========================================================================== model
class LeadScoringModel(ClassifierMixin, BaseEstimator):
    """Probability that a lead ends in a won deal: calibrated logistic regression.

    A :class:`~sklearn.pipeline.Pipeline` of a :class:`~sklearn.compose.ColumnTransformer`
    (one-hot categories, unknown ones ignored; median-imputed, standardised numbers) and a
    :class:`~sklearn.calibration.CalibratedClassifierCV` around a
    :class:`~sklearn.linear_model.LogisticRegression`, folds shuffled with ``random_state``.

    Parameters
    ----------
    C : float
        Inverse regularisation strength of the logistic regression.
    method : {"sigmoid", "isotonic"}
        Calibration method.
    cv : int
        Calibration folds.
    categorical, numeric : sequence of str, optional
        Feature columns (default: those of :data:`CATEGORICAL_FEATURES` /
        :data:`NUMERIC_FEATURES` present in ``X``).
    random_state : int
        Seed of the fold split.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
    categorical_, numeric_ : list of str
    classes_ : ndarray
    base_rate_ : float
        Share of positives in the training labels.
    """

    def __init__(
        self,
        C: float = 1.0,
        method: str = "sigmoid",
        cv: int = 5,
        categorical: Sequence[str] | None = None,
        numeric: Sequence[str] | None = None,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.method = method
        self.cv = cv
        self.categorical = categorical
        self.numeric = numeric
        self.random_state = random_state

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in (*self.categorical_, *self.numeric_) if c not in X.columns]
        if missing:
            raise MissingColumnsError(missing, "X")
        frame = pd.DataFrame(index=X.index)
        for col in self.categorical_:
            frame[col] = X[col].astype("str").fillna("(missing)").to_numpy(dtype=object)
        for col in self.numeric_:
            frame[col] = pd.to_numeric(X[col], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
        return frame

    def fit(self, X: pd.DataFrame, y: Any) -> LeadScoringModel:
        """Fit on features ``X`` (:func:`lead_features`) and 0/1 labels ``y``."""
        if self.method not in ("sigmoid", "isotonic"):
            raise InvalidParameterError("method", self.method, '"sigmoid" or "isotonic"')
        target = np.asarray(pd.Series(y).astype(float), dtype=float)
        if len(target) != len(X):
            raise InvalidDataError("y", len(target), f"length differs from X ({len(X)} rows)")
        if np.isnan(target).any():
            raise InvalidDataError("y", int(np.isnan(target).sum()), "missing labels; drop them")
        if len(np.unique(target)) < 2:
            raise InvalidDataError("y", len(target), "labels of one class only")
        self.categorical_ = [
            c for c in (self.categorical or CATEGORICAL_FEATURES) if c in X.columns
        ]
        self.numeric_ = [c for c in (self.numeric or NUMERIC_FEATURES) if c in X.columns]
        transform = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), self.categorical_),
                (
                    "num",
                    Pipeline(
                        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                    ),
                    self.numeric_,
                ),
            ],
            sparse_threshold=0.0,
        )
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        classifier = CalibratedClassifierCV(
            LogisticRegression(C=self.C, max_iter=2000), method=self.method, cv=folds
        )
        self.pipeline_ = Pipeline([("features", transform), ("classifier", classifier)])
        self.pipeline_.fit(self._prepare(X), target.astype(int))
        self.classes_ = self.pipeline_.classes_
        self.base_rate_ = float(target.mean())
        self.column_means_ = np.asarray(
            self.pipeline_.named_steps["features"].transform(self._prepare(X))
        ).mean(axis=0)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated ``[P(not won), P(won)]`` per row of ``X``."""
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict_proba(self._prepare(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the calibrated probability of a win is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def linear_terms(self) -> tuple[np.ndarray, float, list[str], np.ndarray]:
        """Fold-averaged coefficients, intercept, the feature each column comes from, and
        the training mean of each transformed column (see :func:`explain`)."""
        check_is_fitted(self, "pipeline_")
        calibrated = self.pipeline_.named_steps["classifier"].calibrated_classifiers_
        coef = np.mean([c.estimator.coef_[0] for c in calibrated], axis=0)
        intercept = float(np.mean([c.estimator.intercept_[0] for c in calibrated]))
        ct = self.pipeline_.named_steps["features"]
        owner: list[str] = []
        encoder = ct.named_transformers_["cat"]
        for col, cats in zip(self.categorical_, encoder.categories_, strict=True):
            owner += [col] * len(cats)
        owner += list(self.numeric_)
        return coef, intercept, owner, self.column_means_

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


@dataclass(frozen=True)
class HoldoutReport:
    """Quality of a model on the newest leads, trained on the older ones.

    Attributes
    ----------
    split_at : pandas.Timestamp
        Leads created before it trained the model; the rest tested it.
    n_train, n_test : int
        Labelled leads on each side.
    base_rate : float
        Share of wins among the test leads.
    roc_auc : float
        Ranking quality on the test leads (0.5 is chance).
    brier : float
        Mean squared error of the calibrated probability.
    brier_base_rate : float
        Brier score of predicting the training base rate for everyone (to beat).
    calibration : pandas.DataFrame
        Per probability bin: ``bin``, ``leads``, ``mean_predicted``, ``observed``.
    predictions : pandas.DataFrame
        Test leads: ``lead_id``, ``created_at``, ``won``, ``probability``.
    """

    split_at: pd.Timestamp
    n_train: int
    n_test: int
    base_rate: float
    roc_auc: float
    brier: float
    brier_base_rate: float
    calibration: pd.DataFrame
    predictions: pd.DataFrame = field(repr=False)

    def to_markdown(self) -> str:
        """The report as markdown: the headline figures and the calibration table."""
        head = [
            f"Time holdout: trained on {self.n_train:,} leads created before "
            f"{self.split_at:%Y-%m-%d}, tested on {self.n_test:,} newer ones.",
            "",
            "| ROC AUC | Brier | Brier (base rate) | win rate (test) |",
            "|---:|---:|---:|---:|",
            f"| {self.roc_auc:.3f} | {self.brier:.4f} | {self.brier_base_rate:.4f} | "
            f"{self.base_rate:.3f} |",
            "",
            "| probability bin | leads | mean predicted | observed win rate |",
            "|---|---:|---:|---:|",
        ]
        rows = [
            f"| {r.bin} | {r.leads:,} | {r.mean_predicted:.3f} | {r.observed:.3f} |"
            for r in self.calibration.itertuples(index=False)
        ]
        return "\n".join([*head, *rows, ""])


def evaluate_time_holdout(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    model: LeadScoringModel | None = None,
    test_share: float = 0.25,
    n_bins: int = 10,
    created_col: str = CREATED_AT,
) -> HoldoutReport:
    """Train on the older leads, test on the newer ones: ROC AUC, Brier score, calibration.

    Parameters
    ----------
    X : pandas.DataFrame
        :func:`lead_features` output (indexed by ``lead_id``, with ``created_at``).
    y : pandas.Series
        :func:`lead_labels` output; unlabelled leads (missing) are left out.
    model : LeadScoringModel, optional
        An unfitted model to clone the parameters of (default: ``LeadScoringModel()``).
    test_share : float
        Share of the labelled leads, the newest by ``created_at``, held out.
    n_bins : int
        Equal-width probability bins of the calibration table (empty bins are left out).

    Returns
    -------
    HoldoutReport
    """
    from sklearn.base import clone

    if not 0 < test_share < 1:
        raise InvalidParameterError("test_share", test_share, "a share strictly between 0 and 1")
    if n_bins < 1:
        raise InvalidParameterError("n_bins", n_bins, "an integer >= 1")
    _require(X, [created_col], "X")
    labels = y.reindex(X.index)
    keep = labels.notna().to_numpy(dtype=bool)
    data, target = X[keep], labels[keep].astype(int).to_numpy()
    created = pd.to_datetime(data[created_col], utc=True)
    order = np.argsort(created.to_numpy(), kind="stable")
    cut = round(len(order) * (1 - test_share))
    if cut == 0 or cut == len(order):
        raise InvalidDataError("y", len(order), "too few labelled leads for a holdout")
    split_at = pd.Timestamp(created.iloc[order[cut]])
    train, test = order[:cut], order[cut:]
    if len(np.unique(target[test])) < 2:
        raise InvalidDataError("y", len(test), "the newest leads hold one class only; no AUC")
    fitted = clone(model if model is not None else LeadScoringModel())
    fitted.fit(data.iloc[train], target[train])
    prob = fitted.predict_proba(data.iloc[test])[:, 1]
    truth = target[test]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1], right=False), 0, n_bins - 1)
    table = (
        pd.DataFrame({"b": which, "p": prob, "y": truth})
        .groupby("b")
        .agg(leads=("p", "size"), mean_predicted=("p", "mean"), observed=("y", "mean"))
        .reset_index()
    )
    table.insert(
        0, "bin", [f"{edges[b]:.1f}–{edges[b + 1]:.1f}" for b in table.pop("b").to_numpy()]
    )
    base = float(target[train].mean())
    return HoldoutReport(
        split_at=split_at,
        n_train=len(train),
        n_test=len(test),
        base_rate=float(truth.mean()),
        roc_auc=float(roc_auc_score(truth, prob)),
        brier=float(brier_score_loss(truth, prob)),
        brier_base_rate=float(np.mean((truth - base) ** 2)),
        calibration=table,
        predictions=pd.DataFrame(
            {
                LEAD_ID: data.index.to_numpy()[test],
                created_col: created.to_numpy()[test],
                "won": truth,
                "probability": prob,
            }
        ),
    )


def explain(model: LeadScoringModel, X: pd.DataFrame, *, top: int = 3) -> pd.DataFrame:
    """Each lead's ``top`` reasons: the features moving its log-odds most from the average lead.

    A term is ``coef × (x − mean_x)`` of the fold-averaged logistic regression, summed over
    the transformed columns of one input feature (see the module notes); terms of a lead add
    up to its log-odds minus that of the average training lead.

    Returns
    -------
    pandas.DataFrame
        ``lead_id, rank, feature, value, contribution`` (log-odds), ``top`` rows per lead,
        largest ``|contribution|`` first.
    """
    check_is_fitted(model, "pipeline_")
    if top < 1:
        raise InvalidParameterError("top", top, "an integer >= 1")
    coef, _, owner, means = model.linear_terms()
    matrix = np.asarray(model.pipeline_.named_steps["features"].transform(model._prepare(X)))
    terms = (matrix - means) * coef
    names = list(dict.fromkeys(owner))
    group = pd.Index(names).get_indexer(pd.Index(owner))
    per = np.zeros((len(X), len(names)))
    np.add.at(per.T, group, terms.T)  # sum the columns of each feature (few columns; fine)
    k = min(top, len(names))
    pick = np.argsort(-np.abs(per), axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(X)), k)
    cols = pick.ravel()
    values = np.column_stack([X[c].astype("str").to_numpy(dtype=object) for c in names])
    return pd.DataFrame(
        {
            LEAD_ID: X.index.to_numpy()[rows],
            "rank": np.tile(np.arange(1, k + 1), len(X)),
            "feature": np.asarray(names, dtype=object)[cols],
            "value": values[rows, cols],
            "contribution": per[rows, cols],
        }
    )
