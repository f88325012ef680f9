from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from crm.sample import generate
from segments.errors import ScoringRulesError
from segments.scoring import (
    EXAMPLE_RULES,
    LeadScoringModel,
    account_scores,
    contact_roles,
    evaluate_time_holdout,
    explain,
    lead_features,
    lead_labels,
    load_scoring_rules,
    rule_scores,
)

AS_OF = pd.Timestamp("2026-11-01", tz="UTC")

RULES = """\
roles:
  - code: decision_maker
    keywords: [ceo, директор]
  - code: finance
    keywords: [бухгалтер, accountant]
  - code: legal
    keywords: [юрист, lawyer]
fit:
  industry: {it: 10}
  size_band: {"11-50": 4}
  role: {decision_maker: 12, finance: 6}
bant:
  budget: [{min: 10000, points: 5}, {min: 50000, points: 10}]
  authority: 10
  need: {present: 5, values: {demo: 10}}
  timing: [{within_days: 30, points: 15}, {within_days: 90, points: 8}]
behaviour:
  half_life_days: 10
  lookback_days: 60
  activities: {call: 4, meeting: 8}
  events: {opened: 2, clicked: 6}
caps:
  behaviour: 10
  total: 60
account:
  expected_roles: [decision_maker, finance, legal]
  missing_role_penalty: 0.2
"""


def days_ago(d: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=d)


@pytest.fixture
def crm() -> dict[str, pd.DataFrame]:
    companies = pd.DataFrame(
        {"company_id": [1, 2], "industry": ["it", "retail"], "size_band": ["11-50", "1-10"]}
    )
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "company_id": pd.array([1, 1, 2, None], dtype="Int64"),
            "job_title": ["CEO", "Главный бухгалтер", "Менеджер", None],
        }
    )
    leads = pd.DataFrame(
        {
            "lead_id": [11, 12, 13, 14, 15, 16],
            "customer_id": [1, 2, 3, 1, 4, 4],
            "company_id": pd.array([1, 1, 2, 1, None, None], dtype="Int64"),
            "status": ["verified", "new", "converted", "spam", "disqualified", "new"],
            "budget": [60000.0, 10000.0, 5000.0, 900000.0, 900000.0, np.nan],
            "authority": pd.array([True, None, False, True, True, None], dtype="boolean"),
            "need": ["demo", None, "price_request", "demo", "demo", None],
            "timing_days": pd.array([20, 90, 120, 5, 5, None], dtype="Int64"),
            "created_at": [days_ago(30)] * 6,
        }
    )
    activities = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 1, 2, 2],
            "kind": ["call", "meeting", "call", "call", "call", "meeting", "meeting"],
            "occurred_at": [
                days_ago(10),  # one half-life: 4 × 0.5 = 2
                days_ago(20),  # two half-lives: 8 × 0.25 = 2
                days_ago(5),  # not done: 0
                days_ago(70),  # beyond the 60-day lookback: 0
                AS_OF + pd.Timedelta(days=1),  # after as_of: 0
                days_ago(0),  # 8
                days_ago(0),  # 8
            ],
            "done": [True, True, False, True, True, True, True],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "kind": ["opened", "clicked", "sent"],
            "occurred_at": [days_ago(0), days_ago(10), days_ago(0)],  # 2, 6 × 0.5 = 3, 0
        }
    )
    return {
        "companies": companies,
        "customers": customers,
        "leads": leads,
        "activities": activities,
        "events": events,
    }


def score(crm: dict[str, pd.DataFrame]):  # type: ignore[no-untyped-def]
    return rule_scores(
        crm["leads"],
        load_scoring_rules(RULES),
        AS_OF,
        customers=crm["customers"],
        companies=crm["companies"],
        activities=crm["activities"],
        events=crm["events"],
    )


# ------------------------------------------------------------------ rule scores
def test_hand_worked_scores(crm: dict[str, pd.DataFrame]) -> None:
    scores = score(crm).scores.set_index("lead_id")
    # lead 11 (CEO of an IT company of 11-50): fit 10 + 4 + 12 = 26;
    # BANT: budget 60000 >= 50000 → 10, authority 10, need demo 10, timing 20 <= 30 → 15 = 45;
    # behaviour: call 10 d ago 4 × 0.5 = 2, meeting 20 d ago 8 × 0.25 = 2, opened today 2,
    # clicked 10 d ago 6 × 0.5 = 3 → 9 (under the cap of 10); 26 + 45 + 9 = 80 → total cap 60
    # lead 12 (chief accountant, same company): fit 10 + 4 + 6 = 20; budget exactly 10000 → 5,
    # timing 90 <= 90 → 8 = 13; two meetings today 16 → behaviour cap 10; 20 + 13 + 10 = 43
    # lead 13 (retail 1-10, "Менеджер" = other): only need stated (price_request) → 5
    # lead 16: nothing known → 0; leads 14 (spam) and 15 (disqualified) are not scored
    assert scores.index.tolist() == [11, 12, 13, 16]
    assert scores["fit"].tolist() == [26, 20, 0, 0]
    assert scores["bant"].tolist() == [45, 13, 5, 0]
    assert scores["behaviour"].to_numpy() == pytest.approx([9, 10, 0, 0])
    assert scores["score"].to_numpy() == pytest.approx([60, 43, 5, 0])
    assert scores.loc[16, "company_id"] is pd.NA


def test_contributions_explain_every_point(crm: dict[str, pd.DataFrame]) -> None:
    result = score(crm)
    contrib = result.contributions
    total = (
        contrib.groupby("lead_id")["points"].sum().reindex(result.scores["lead_id"], fill_value=0)
    )
    np.testing.assert_allclose(total.to_numpy(), result.scores["score"].to_numpy())
    rows = {(r.factor, r.detail): r.points for r in contrib[contrib["lead_id"] == 11].itertuples()}
    assert rows == pytest.approx(
        {
            ("industry", "it"): 10,
            ("size_band", "11-50"): 4,
            ("role", "decision_maker"): 12,
            ("budget", "budget >= 50000"): 10,
            ("authority", "can sign"): 10,
            ("need", "demo"): 10,
            ("timing", "within 30 days"): 15,
            ("activity", "call"): 2,
            ("activity", "meeting"): 2,
            ("email", "opened"): 2,
            ("email", "clicked"): 3,
            ("cap", "total cap 60"): -20,
        }
    )
    lead12 = contrib[contrib["lead_id"] == 12].set_index("detail")["points"]
    assert lead12["behaviour cap 10"] == pytest.approx(-6)  # 16 decayed meeting points → 10
    assert set(contrib["lead_id"]) == {11, 12, 13}  # lead 16 has no non-zero points
    assert not contrib["lead_id"].isin([14, 15]).any()


def test_contributions_sum_to_scores_on_sample_data() -> None:
    d = generate(customers=1500, seed=5)
    result = rule_scores(
        d["leads"],
        load_scoring_rules(EXAMPLE_RULES),
        d.as_of,
        customers=d["customers"],
        companies=d["companies"],
        activities=d["activities"],
        events=d["marketing_events"],
    )
    total = result.contributions.groupby("lead_id")["points"].sum()
    total = total.reindex(result.scores["lead_id"], fill_value=0)
    np.testing.assert_allclose(total.to_numpy(), result.scores["score"].to_numpy(), atol=1e-9)
    eligible = ~d["leads"]["status"].isin(["disqualified", "spam"])
    assert len(result.scores) == int(eligible.sum())
    assert result.scores["score"].max() <= 100


def test_half_life_decay_and_seniority_column() -> None:
    rules = load_scoring_rules(
        "fit:\n  seniority: {c_level: 7}\nbehaviour:\n  half_life_days: 7\n"
        "  activities: {call: 8}\n"
    )
    leads = pd.DataFrame({"lead_id": [1], "customer_id": [5], "status": ["new"]})
    customers = pd.DataFrame({"customer_id": [5], "seniority": ["c_level"]})
    acts = pd.DataFrame(
        {
            "customer_id": [5, 5],
            "kind": ["call", "call"],
            "occurred_at": [days_ago(7), days_ago(21)],
        }
    )
    got = rule_scores(leads, rules, AS_OF, customers=customers, activities=acts)
    # 8 × 0.5 (one half-life) + 8 × 0.125 (three half-lives) = 5; seniority 7 → 12
    assert got.scores["behaviour"].iloc[0] == pytest.approx(5.0)
    assert got.scores["score"].iloc[0] == pytest.approx(12.0)
    # a bare date is the end of that day (crm.asof): both calls are one day older
    by_day = rule_scores(leads, rules, AS_OF.date(), customers=customers, activities=acts)
    assert by_day.scores["behaviour"].iloc[0] == pytest.approx(
        8 * 0.5 ** (8 / 7) + 8 * 0.5 ** (22 / 7)
    )
    naive = rule_scores(leads, rules, AS_OF.tz_localize(None), customers=customers, activities=acts)
    assert naive.scores["behaviour"].iloc[0] == pytest.approx(5.0)  # naive: UTC wall clock


def test_roles_from_keywords_or_a_role_column() -> None:
    rules = load_scoring_rules(RULES)
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "job_title": ["Генеральный Директор", "ACCOUNTANT", "Юрист", "Менеджер", None],
            "role": [None, None, None, "legal", None],
        }
    )
    roles = contact_roles(customers, rules)
    assert roles.iloc[:4].tolist() == ["decision_maker", "finance", "legal", "legal"]
    assert roles.isna().tolist() == [False, False, False, False, True]  # no title, no role


# ------------------------------------------------------------------ account scores
def test_account_scores_name_missing_roles(crm: dict[str, pd.DataFrame]) -> None:
    rules = load_scoring_rules(RULES)
    acc = account_scores(score(crm).scores, crm["customers"], rules).set_index("company_id")
    # company 1: CEO (60) and chief accountant (43): max 60, mean 51.5, legal missing →
    # completeness 2/3, account score 60 × (1 − 0.2) = 48
    one = acc.loc[1]
    assert (one["contacts"], one["contacts_scored"]) == (2, 2)
    assert (one["score_max"], one["score_mean"]) == pytest.approx((60, 51.5))
    assert one["roles_present"] == "decision_maker, finance"
    assert one["missing_roles"] == "legal"
    assert one["completeness"] == pytest.approx(2 / 3)
    assert one["account_score"] == pytest.approx(48)
    assert "legal" in one["note"]
    # company 2: one "other" contact scoring 5, all three roles missing → 5 × 0.4 = 2
    two = acc.loc[2]
    assert two["missing_roles"] == "decision_maker, finance, legal"
    assert two["completeness"] == 0
    assert two["account_score"] == pytest.approx(2.0)
    assert acc.index.tolist() == [1, 2]  # customer 4 has no company


# ------------------------------------------------------------------ rules file errors
def _error(text: str) -> ScoringRulesError:
    with pytest.raises(ScoringRulesError) as info:
        load_scoring_rules(text, source="scoring.yaml")
    return info.value


def test_example_rules_load() -> None:
    rules = load_scoring_rules(EXAMPLE_RULES)
    assert rules.behaviour.half_life_days == 14
    assert rules.account.expected_roles == ["decision_maker", "finance", "legal"]
    assert [t.min for t in rules.bant.budget] == [10000, 50000, 200000]


def test_bad_value_names_field_and_line() -> None:
    err = _error(
        "bant:\n  authority: 10\n  budget:\n    - {min: 10, points: 1}\n    - {min: -5, points: 2}\n"
    )
    assert (err.field, err.line) == ("bant.budget[1].min", 5)
    assert "scoring.yaml:5: bant.budget[1].min:" in str(err)


def test_unknown_field_and_unknown_kind() -> None:
    err = _error("behaviour:\n  half_life_days: 7\n  half_lif: 3\n")
    assert (err.field, err.line) == ("behaviour.half_lif", 3)
    assert "unknown field" in str(err)
    err = _error("behaviour:\n  activities:\n    phonecall: 3\n")
    assert (err.field, err.line) == ("behaviour.activities", 2)
    assert "phonecall" in str(err)


def test_thresholds_out_of_order_and_undeclared_role() -> None:
    err = _error(
        "bant:\n  budget:\n    - {min: 50000, points: 10}\n    - {min: 10000, points: 5}\n"
    )
    assert (err.field, err.line) == ("bant.budget", 2)
    err = _error("roles:\n  - code: finance\n    keywords: [cfo]\nfit:\n  role:\n    boss: 5\n")
    assert (err.field, err.line) == ("fit.role.boss", 6)
    err = _error("account:\n  expected_roles: [legal]\n")
    assert (err.field, err.line) == ("account.expected_roles[0]", 2)


def test_broken_yaml_and_duplicate_key() -> None:
    err = _error("caps:\n  total: [100\n")
    assert err.field == "<yaml>"
    assert err.line == 3
    err = _error("caps:\n  fit: 10\n  fit: 20\n")
    assert err.line == 3
    assert "scoring.yaml:3: caps.fit: duplicate key 'fit' (first at line 2)" in str(err)


def test_every_mistake_in_one_pass_with_the_closest_name() -> None:
    err = _error("behaviour:\n  half_lif: 3\ncaps:\n  total: -1\nfitt: {}\n")
    assert [(p.line, p.field) for p in err.problems] == [
        (2, "behaviour.half_lif"),
        (4, "caps.total"),
        (5, "fitt"),
    ]
    assert "did you mean 'half_life_days'?" in err.problems[0].message
    assert "did you mean 'fit'?" in err.problems[2].message
    # two undeclared roles are both reported
    err = _error("fit:\n  role: {boss: 5}\naccount:\n  expected_roles: [legal]\n")
    assert [(p.line, p.field) for p in err.problems] == [
        (2, "fit.role.boss"),
        (4, "account.expected_roles[0]"),
    ]


def test_text_and_paths_are_told_apart_one_way(tmp_path: Path) -> None:
    # one line of YAML is text, not a missing file (a bare FileNotFoundError before)
    assert load_scoring_rules("behaviour: {half_life_days: 7}").behaviour.half_life_days == 7
    with pytest.raises(ScoringRulesError, match="no scoring rules file at this path"):
        load_scoring_rules(str(tmp_path / "missing.yaml"))
    deep = "a: " + "[" * 200 + "]" * 200 + "\n"
    with pytest.raises(ScoringRulesError, match="nested more than"):
        load_scoring_rules(deep)


# ------------------------------------------------------------------ labels and features
def test_labels_need_a_mature_lead_and_a_closed_outcome() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": [1, 2, 3, 4, 5, 6, 7],
            "status": [
                "converted",
                "converted",
                "converted",
                "verified",
                "new",
                "spam",
                "converted",
            ],
            "created_at": [days_ago(200)] * 6 + [days_ago(10)],
        }
    )
    deals = pd.DataFrame(
        {
            "lead_id": [1, 1, 2, 3, 7],
            "status": ["lost", "won", "lost", "open", "won"],
            "closed_at": [days_ago(150), days_ago(140), days_ago(150), pd.NaT, days_ago(5)],
        }
    )
    y = lead_labels(leads, deals, AS_OF, maturity_days=90)
    # 1: a won deal → 1; 2: only lost → 0; 3: open → unknown; 4, 5: old, no deal → 0;
    # 6: spam, not a training lead; 7: won but only 10 days old → left out like its peers
    assert y.index.tolist() == [1, 2, 3, 4, 5, 7]
    assert y.tolist() == [1, 0, pd.NA, 0, 0, pd.NA]


def test_features_count_actions_before_the_observation_point() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": [1, 2],
            "customer_id": [7, 8],
            "status": ["new", "spam"],
            "created_at": [days_ago(100), days_ago(100)],
            "source": ["call", "call"],
            "budget": [np.nan, 1000.0],
        }
    )
    acts = pd.DataFrame(
        {
            "customer_id": [7, 7, 7, 7],
            "kind": ["call", "call", "meeting", "call"],
            # observation point = created + 14 d = 86 days ago; counted: 90 and 95 d ago
            # (within the 90-day lookback), not 80 d ago (after it) nor 200 d ago
            "occurred_at": [days_ago(90), days_ago(80), days_ago(95), days_ago(200)],
            "done": [True, True, True, True],
        }
    )
    X = lead_features(leads, AS_OF, activities=acts, observation_days=14, lookback_days=90)
    assert X.index.tolist() == [1]
    assert (X.loc[1, "calls"], X.loc[1, "meetings"], X.loc[1, "tasks"]) == (1, 1, 0)
    assert (X.loc[1, "budget_given"], X.loc[1, "log_budget"]) == (0, 0)
    assert X.loc[1, "channel"] == "(missing)"


# ------------------------------------------------------------------ model on sample data
@pytest.fixture(scope="module")
def sample_xy() -> tuple[pd.DataFrame, pd.Series]:
    d = generate(customers=20000, seed=7)
    X = lead_features(
        d["leads"],
        d.as_of,
        customers=d["customers"],
        companies=d["companies"],
        activities=d["activities"],
        events=d["marketing_events"],
    )
    return X, lead_labels(d["leads"], d["deals"], d.as_of)


def test_time_holdout_beats_chance_and_is_calibrated(sample_xy) -> None:  # type: ignore[no-untyped-def]
    # The generator makes wins depend on the channel (paid ads bring more spam and fewer
    # sales) and on whether a budget was given (only qualified leads state one); authority,
    # need, timing and activities are drawn independently of the outcome. So the model can
    # rank better than chance, but not by much: AUC ≈ 0.59 on seed 7.
    X, y = sample_xy
    report = evaluate_time_holdout(X, y, test_share=0.25)
    assert report.n_test > 2500
    assert report.split_at > X.loc[y.dropna().index, "created_at"].min()
    assert report.roc_auc > 0.56
    assert report.brier < report.brier_base_rate  # beats predicting the training win rate
    cal = report.calibration[report.calibration["leads"] >= 300]
    assert len(cal) >= 2
    assert np.abs(cal["mean_predicted"] - cal["observed"]).max() < 0.06
    assert report.calibration["leads"].sum() == report.n_test
    assert "ROC AUC" in report.to_markdown()


def test_model_is_seeded_clonable_and_explained(sample_xy) -> None:  # type: ignore[no-untyped-def]
    X, y = sample_xy
    keep = y.notna()
    Xl, yl = X[keep].iloc[:4000], y[keep].iloc[:4000].astype(int)
    model = LeadScoringModel(C=0.5, random_state=3)
    a = model.fit(Xl, yl).predict_proba(Xl.iloc[:50])
    b = clone(model).fit(Xl, yl).predict_proba(Xl.iloc[:50])
    np.testing.assert_allclose(a, b)
    assert clone(model).get_params()["C"] == 0.5
    assert ((a >= 0) & (a <= 1)).all()
    np.testing.assert_allclose(a.sum(axis=1), 1)

    # every feature's term, summed, is the lead's log-odds minus the average lead's
    reasons = explain(model, Xl.iloc[:20], top=100)
    coef, _intercept, _, means = model.linear_terms()
    matrix = np.asarray(
        model.pipeline_.named_steps["features"].transform(model._prepare(Xl.iloc[:20]))
    )
    expected = matrix @ coef - means @ coef
    got = reasons.groupby("lead_id", sort=False)["contribution"].sum().to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-9)
    top = explain(model, Xl.iloc[:20], top=3)
    assert (top.groupby("lead_id").size() == 3).all()
    first = top[top["rank"] == 1].set_index("lead_id")["contribution"].abs()
    third = top[top["rank"] == 3].set_index("lead_id")["contribution"].abs()
    assert (first >= third).all()
    # the matrix transformed once gives the same probabilities and reasons
    np.testing.assert_array_equal(model.transform(Xl.iloc[:20]), matrix)
    np.testing.assert_array_equal(model.predict_proba(Xl.iloc[:20], matrix=matrix), a[:20])
    pd.testing.assert_frame_equal(explain(model, Xl.iloc[:20], top=3, matrix=matrix), top)
    shown = top.iloc[0]
    assert shown["value"] == str(Xl.iloc[:20].loc[shown["lead_id"], shown["feature"]])
