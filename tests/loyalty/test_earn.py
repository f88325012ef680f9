from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from ledger_machine import vectorised_only
from loyalty_helpers import RULES_YAML, orders, ts

from loyalty import calculate_order, max_burn_points, parse_rules, purchase_entries
from loyalty.earn import _program
from loyalty.errors import InsufficientPointsError, MissingColumnsError


def _points(entries, order_id: int) -> dict[str, int]:
    mine = entries[entries["source_id"] == str(order_id)]
    return dict(zip(mine["rule"], mine["points"], strict=True))


def test_percent_fixed_category_and_channel_rules(rules) -> None:
    o = orders(
        [
            (1, 10, "2026-05-01 12:00", 1000.0, "paid", "", "store"),
            (2, 10, "2026-05-01 12:00", 5000.0, "paid", "kids", "app"),
            (3, 11, "2026-05-01 12:00", 999.0, "paid", "", "app"),
        ]
    )
    e = purchase_entries(o, rules)
    assert _points(e, 1) == {"base": 30}
    # 2 % of 5 000 is 100, capped at 50; the app order bonus needs 1 000 or more
    assert _points(e, 2) == {"base": 150, "kids_extra": 50, "app_order": 50}
    assert _points(e, 3) == {"base": 29}
    assert set(e["idempotency_key"]) >= {"earn:1:base", "earn:2:kids_extra", "earn:2:app_order"}


def test_only_paid_orders_earn(rules) -> None:
    o = orders(
        [
            (1, 10, "2026-05-01", 1000.0, "cancelled", "", "store"),
            (2, 10, "2026-05-01", 1000.0, "returned", "", "store"),
        ]
    )
    assert purchase_entries(o, rules).empty


def test_hold_and_validity_dates(rules) -> None:
    e = purchase_entries(orders([(1, 10, "2026-05-01 12:00", 1000.0)]), rules)
    row = e.iloc[0]
    assert row["kind"] == "earn" and row["reason"] == "purchase"
    assert row["available_at"] == ts("2026-05-15 12:00")  # 14-day hold
    assert row["expires_at"] == ts("2027-05-15 12:00")  # 365 days after it became available


def test_tier_multiplier_adds_its_own_entry(rules) -> None:
    o = orders([(1, 10, "2026-05-01", 1000.0)])
    o["tier"] = "silver"
    e = purchase_entries(o, rules)
    assert _points(e, 1) == {"base": 30, "tier:silver": 15}
    assert e.set_index("rule").loc["tier:silver", "reason"] == "tier_bonus"


def test_promotion_wave_uses_local_dates(rules) -> None:
    # 20:30 UTC on 26 Nov is 23:30 in Moscow (before the wave); 21:30 UTC is 00:30 on 27 Nov
    o = orders([(1, 10, "2026-11-26 20:30", 1000.0), (2, 10, "2026-11-26 21:30", 1000.0)])
    e = purchase_entries(o, rules)
    assert _points(e, 1) == {"base": 30}
    assert _points(e, 2) == {"base": 30, "promo:black_friday": 30}


def test_program_cap_trims_promotions_first() -> None:
    rules = parse_rules(
        RULES_YAML.replace("  hold_days: 14", "  hold_days: 14\n  max_points_per_order: 40")
    )
    e = purchase_entries(orders([(1, 10, "2026-11-28", 1000.0)]), rules)
    assert _points(e, 1) == {"base": 30, "promo:black_friday": 10}


def test_missing_columns_are_named(rules) -> None:
    with pytest.raises(MissingColumnsError, match="'amount'"):
        purchase_entries(orders([(1, 10, "2026-05-01", 1.0)]).drop(columns="amount"), rules)


def test_burn_rule_limits(rules) -> None:
    assert max_burn_points(1000.0, 500, rules) == 300  # 30 % of the order
    assert max_burn_points(1000.0, 120, rules) == 120  # all that is available
    assert max_burn_points(400.0, 500, rules) == 0  # below the minimum order amount
    assert max_burn_points(1000.0, 99, rules) == 0  # below the minimum points to burn


def test_gateway_quote_earns_on_the_money_paid(rules) -> None:
    when = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    q = calculate_order(
        {"customer_id": 10, "amount": 1000, "ordered_at": when, "category": "kids"},
        rules,
        available_points=500,
        use_points=400,
    )
    assert (q.max_burn_points, q.burn_points, q.paid_amount) == (300, 300, 700.0)
    assert q.earn_breakdown == {"base": 21, "kids_extra": 14}
    assert q.earn_points == 35 and q.pending_days == 14
    with pytest.raises(InsufficientPointsError, match="needs 600 points but has 500"):
        calculate_order(
            {"customer_id": 10, "amount": 1000, "ordered_at": when},
            rules,
            available_points=500,
            use_points=600,
        )


def test_gateway_quote_matches_the_batch(rules) -> None:
    o = orders(
        [
            (1, 10, "2026-11-28 09:00", 2345.67, "paid", "kids", "app"),
            (2, 11, "2026-03-01 09:00", 812.0, "paid", "", "store"),
        ]
    )
    o["tier"] = ["silver", "base"]
    batch = purchase_entries(o, rules)
    for row in o.itertuples(index=False):
        q = calculate_order(row._asdict(), rules, tier=row.tier)
        assert q.earn_breakdown == _points(batch, row.order_id)


def test_small_and_big_frames_earn_the_same_entries(rules) -> None:
    # every kind of row the small path reads value by value: missing category and channel,
    # an unpaid order, a tier bonus, the promotion's first local day (21:30 UTC on 26 Nov)
    o = orders(
        [
            (1, 10, "2026-11-26 21:30", 2345.67, "paid", "kids", "app"),
            (2, 11, "2026-11-26 20:30", 812.0, "paid", None, None),
            (3, 12, "2026-05-01 12:00", 5000.0, "cancelled", "kids", "app"),
            (4, 12, "2026-05-01 12:00", 1500.0, "paid", "home", "app"),
        ]
    )
    o["tier"] = ["silver", None, "base", "silver"]
    small = purchase_entries(o, rules)
    with vectorised_only():
        big = purchase_entries(o, rules)
    pd.testing.assert_frame_equal(small, big)
    # 3 % of 2 345.67 is 70, kids 2 % is 46, app 50; silver adds half of 166; the wave doubles
    assert _points(small, 1) == {
        "base": 70,
        "kids_extra": 46,
        "app_order": 50,
        "tier:silver": 83,
        "promo:black_friday": 166,
    }
    assert _points(small, 2) == {"base": 24}
    assert _points(small, 3) == {}
    assert _points(small, 4) == {"base": 45, "app_order": 50, "tier:silver": 47}


def test_rules_are_read_once_per_object_and_never_mixed(rules) -> None:
    doubled = parse_rules(RULES_YAML.replace("{id: base, percent: 3}", "{id: base, percent: 6}"))
    o = orders([(1, 10, "2026-05-01 12:00", 1000.0, "paid", "", "store")])
    # alternating two programs: each call reads its own (the cache is by identity)
    assert _points(purchase_entries(o, rules), 1) == {"base": 30}
    assert _points(purchase_entries(o, doubled), 1) == {"base": 60}
    assert _points(purchase_entries(o, rules), 1) == {"base": 30}
    assert _program(rules) is _program(rules)
    assert _program(doubled) is not _program(rules)
