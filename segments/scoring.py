"""Lead scoring: marketer rules, a calibrated scikit-learn model, account-level scores (S3, S6).

The names callers import, re-exported from one module per part: :mod:`segments.scoring_rules`
(the rules file and its loader), :mod:`segments.leads` (which leads are scored, buying roles),
:mod:`segments.rule_scores`, :mod:`segments.accounts`, :mod:`segments.lead_features` (features
and labels) and :mod:`segments.lead_model` (the model, its holdout and explanations).

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

from segments.accounts import account_scores
from segments.lead_features import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    lead_features,
    lead_labels,
)
from segments.lead_model import HoldoutReport, LeadScoringModel, evaluate_time_holdout, explain
from segments.leads import EXCLUDED_STATUSES, contact_roles, eligible_leads
from segments.rule_scores import RuleScores, rule_scores
from segments.scoring_rules import (
    EXAMPLE_RULES,
    AccountRules,
    Bant,
    Behaviour,
    Caps,
    Fit,
    RoleRule,
    ScoringRules,
    load_scoring_rules,
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
