"""segments.scored_base: the compute step of a segments run, on frames built by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segments.errors import EmptyBaseError
from segments.scored_base import (
    MIN_VALUE_BUYERS,
    loyalty_share,
    score_base,
)
from segments.scoring import load_scoring_rules

AS_OF = pd.Timestamp("2026-11-01 12:00", tz="UTC")
RULES = load_scoring_rules("bant:\n  authority: 10\n")


def _tables(n: int) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """``n`` customers; customer i bought i % 4 times (0 to 3 orders) in October."""
    ids = np.arange(1, n + 1)
    per = ids % 4
    cust = np.repeat(ids, per)
    day = np.concatenate([np.arange(k) for k in per]) if n else np.arange(0)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, len(cust) + 1),
            "customer_id": cust,
            "ordered_at": pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(day * 7, "D"),
            "amount": 100.0,
            "status": "paid",
        }
    )
    profiles = pd.DataFrame(
        {"orders": per, "revenue": per * 100.0}, index=pd.Index(ids, name="customer_id")
    )
    leads = pd.DataFrame(
        {
            "lead_id": [1, 2, 3],
            "customer_id": [1, 1, 2],
            "company_id": [None, None, None],
            "status": ["new", "lost", "spam"],
            "authority": [True, True, True],
            "source": "site",
            "channel": "form",
            "created_at": pd.Timestamp("2026-10-20", tz="UTC"),
        }
    )
    deals = pd.DataFrame(
        {"lead_id": pd.Series([], dtype="int64"), "status": pd.Series([], dtype="str")}
    )
    customers = pd.DataFrame({"customer_id": ids, "company_id": pd.NA})
    return profiles, {"orders": orders, "leads": leads, "deals": deals, "customers": customers}


def test_loyalty_share_is_repeat_orders_over_orders() -> None:
    got = loyalty_share(pd.Series([0, 1, 2, 4], index=[5, 6, 7, 8]))
    assert got.tolist() == [0.0, 0.0, 0.5, 0.75] and got.index.tolist() == [5, 6, 7, 8]


def test_a_small_base_gets_rfm_and_lead_scores_but_no_value_model() -> None:
    profiles, tables = _tables(12)  # 9 buyers: under MIN_VALUE_BUYERS
    scored = score_base(profiles, tables, AS_OF, scoring_rules=RULES)
    p = scored.profiles
    assert scored.as_of == AS_OF and (p["as_of"] == AS_OF).all()
    assert p.loc[3, "loyalty_share"] == pytest.approx(2 / 3) and p.loc[4, "loyalty_share"] == 0
    assert p.loc[p["orders"] > 0, "rfm_segment"].notna().all()
    assert p.loc[p["orders"] == 0, "rfm_segment"].isna().all()
    assert p["predicted_value"].isna().all() and scored.notes["value"] == "too few buyers to fit"
    assert MIN_VALUE_BUYERS > 9
    # lead 1 is open (authority: 10 points), lead 2 is closed, lead 3 is spam: never scored
    assert sorted(scored.lead_scores["lead_id"]) == [1, 2]
    assert p.loc[1, "lead_score"] == 10.0 and np.isnan(p.loc[2, "lead_score"])
    assert scored.notes["lead_model"] == "too few closed leads to train on"
    assert "lead_score" not in profiles.columns  # the caller's frame is left as it was


def test_a_bare_date_is_the_end_of_that_day() -> None:
    profiles, tables = _tables(12)
    by_day = score_base(profiles, tables, dt.date(2026, 11, 1), scoring_rules=RULES)
    assert by_day.as_of == pd.Timestamp("2026-11-01 23:59:59.999999", tz="UTC")


def test_no_customers_is_a_sentence_not_a_type_error() -> None:
    profiles, tables = _tables(0)
    with pytest.raises(EmptyBaseError, match="no active customers to score yet"):
        score_base(profiles, tables, AS_OF, scoring_rules=RULES)
