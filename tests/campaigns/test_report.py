"""The campaign report: uplift against a hand-computed example, responses joined back."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from campaigns.report import Z95, campaign_report, conversions, uplift, variant_uplift


def test_uplift_matches_the_hand_computed_wald_interval() -> None:
    # 120 of 1000 treated and 100 of 1000 held out converted:
    # d = 0.12 - 0.10 = 0.02; se = sqrt(0.12*0.88/1000 + 0.10*0.90/1000) = sqrt(0.0001956)
    u = uplift(1000, 120, 1000, 100)
    se = math.sqrt(0.0001956)
    assert u.difference == pytest.approx(0.02)
    assert se == pytest.approx(0.0139857, abs=1e-7)
    assert (u.low, u.high) == pytest.approx((0.02 - Z95 * se, 0.02 + Z95 * se))
    assert (round(u.low, 5), round(u.high, 5)) == (-0.00741, 0.04741)
    assert not u.significant and u.reliable
    assert "Wald" in u.method


def test_a_clear_effect_is_significant_and_tiny_groups_are_flagged() -> None:
    assert uplift(2000, 300, 2000, 200).significant  # 0.05 ± 0.0204
    assert not uplift(20, 5, 20, 1).reliable
    with pytest.raises(ValueError, match="at least one"):
        uplift(0, 0, 10, 1)


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_conversions_count_paid_orders_inside_the_window_only() -> None:
    people = pd.DataFrame({"customer_id": [1, 2, 3], "start": [_ts("2026-12-01")] * 3})
    orders = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3],
            "ordered_at": [
                _ts("2026-12-03"),
                _ts("2026-12-20"),
                _ts("2026-11-30"),
                _ts("2026-12-02"),
            ],
            "amount": [100.0, 50.0, 70.0, 80.0],
            "status": ["paid", "paid", "paid", "cancelled"],
        }
    )
    out = conversions(people, orders, window_days=14)
    assert out["converted"].tolist() == [True, False, False]
    assert out["revenue"].tolist() == [100.0, 0.0, 0.0]


def test_report_per_variant_and_channel_with_the_holdout() -> None:
    run = "c1:v1:2026-12-01T10:00:00+00:00"
    outbox = pd.DataFrame(
        {
            "campaign_id": "c1",
            "run_id": run,
            "customer_id": [1, 2, 3, 4],
            "channel": ["email", "email", "sms", "email"],
            "variant": ["A", "A", "A", "B"],
            "scheduled_for": [_ts("2026-12-01 10:00")] * 4,
        }
    )
    exclusions = pd.DataFrame(
        {
            "run_id": run,
            "customer_id": [5, 6, 7],
            "reason": ["holdout", "holdout", "email_no_consent"],
        }
    )
    runs = pd.DataFrame({"run_id": [run], "as_of": [_ts("2026-12-01 10:00")], "audience": [7]})
    orders = pd.DataFrame(
        {
            "customer_id": [1, 3, 6],
            "ordered_at": [_ts("2026-12-02")] * 3,
            "amount": [1000.0, 500.0, 200.0],
            "status": "paid",
        }
    )
    events = pd.DataFrame(
        {
            "campaign_id": "c1",
            "customer_id": [1, 1, 2],
            "channel": "email",
            "kind": ["opened", "clicked", "opened"],
        }
    )
    table, reasons, u = campaign_report(outbox, exclusions, runs, orders, events)
    rows = table.set_index(["variant", "channel"])
    assert rows.loc[("A", "email"), ["sent", "opened", "clicked", "converted"]].tolist() == [
        2,
        2,
        1,
        1,
    ]
    assert rows.loc[("A", "email"), "revenue"] == 1000.0
    assert rows.loc[("A", "sms"), "converted"] == 1
    assert rows.loc[("holdout", "-"), ["audience", "converted", "revenue"]].tolist() == [
        2,
        1,
        200.0,
    ]
    assert dict(zip(reasons["reason"], reasons["customers"], strict=True)) == {
        "holdout": 2,
        "email_no_consent": 1,
    }
    assert u is not None
    assert (u.treated_rate, u.holdout_rate, u.difference) == (0.5, 0.5, 0.0)


def test_uplift_per_variant_against_the_shared_holdout_by_hand() -> None:
    # A: 120 of 1,000 (sms 70 of 600, email 50 of 400), B: 100 of 1,000, holdout 100 of 1,000
    table = pd.DataFrame(
        {
            "variant": ["A", "A", "B", "holdout"],
            "channel": ["sms", "email", "sms", "-"],
            "audience": [600, 400, 1000, 1000],
            "converted": [70, 50, 100, 100],
        }
    )
    frame = variant_uplift(table).set_index("variant")
    assert frame.index.tolist() == ["A", "B", "all"]
    assert frame.loc["A", ["sent", "converted", "holdout", "holdout_converted"]].tolist() == [
        1000,
        120,
        1000,
        100,
    ]
    # se = sqrt(0.12 * 0.88 / 1000 + 0.1 * 0.9 / 1000) = 0.013986; 1.96 se = 0.027412
    assert frame.loc["A", "uplift"] == pytest.approx(0.02)
    assert frame.loc["A", "low"] == pytest.approx(-0.007412, abs=1e-6)
    assert frame.loc["A", "high"] == pytest.approx(0.047412, abs=1e-6)
    assert not frame.loc["A", "significant"] and frame.loc["A", "reliable"]
    # all treated: 220 of 2,000 = 0.11; se = sqrt(0.11 * 0.89 / 2000 + 0.09 / 1000) = 0.011788
    assert frame.loc["all", "uplift"] == pytest.approx(0.01)
    assert frame.loc["all", "low"] == pytest.approx(0.01 - 1.959964 * 0.0117877, abs=1e-6)
    assert variant_uplift(table.iloc[:3]).empty  # no holdout, no uplift


def test_conversions_of_nobody_is_an_empty_frame() -> None:
    # a campaign nobody was held out from: the holdout's people frame is empty
    people = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="int64"),
            "start": pd.Series([], dtype="datetime64[us, UTC]"),
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": [1],
            "ordered_at": [_ts("2026-12-03")],
            "amount": [10.0],
            "status": ["paid"],
        }
    )
    out = conversions(people, orders, window_days=14)
    assert out.empty and {"converted", "revenue"} <= set(out.columns)
