from __future__ import annotations

import pandas as pd
from loyalty_helpers import orders, ts

from loyalty import empty_tier_history, tier_at, tier_basis, tier_changes
from loyalty.tiers import current_tiers


def test_upgrade_when_spend_reaches_threshold(rules) -> None:
    o = orders(
        [
            (1, 10, "2026-01-10", 20000.0),
            (2, 10, "2026-02-10", 15000.0),
            (3, 11, "2026-02-10", 100.0),
        ]
    )
    basis = tier_basis(rules, ts("2026-03-01"), orders=o)
    assert basis.to_dict() == {10: 35000.0, 11: 100.0}
    ch = tier_changes(empty_tier_history(), basis, rules, ts("2026-03-01"))
    assert ch[["customer_id", "tier", "previous_tier", "direction"]].values.tolist() == [
        [10, "silver", "base", "up"]
    ]
    assert ch.iloc[0]["effective_at"] == ts("2026-03-01")
    assert ch.iloc[0]["basis_value"] == 35000.0


def test_money_returned_in_part_is_not_spend(rules) -> None:
    o = orders([(1, 10, "2026-01-10", 20000.0), (2, 10, "2026-02-10", 15000.0)])
    o["returned_amount"] = [None, 6000.0]  # 6,000 of the second order brought back
    basis = tier_basis(rules, ts("2026-03-01"), orders=o)
    assert basis.to_dict() == {10: 29000.0}  # below silver's 30,000
    assert tier_changes(empty_tier_history(), basis, rules, ts("2026-03-01")).empty


def test_downgrade_waits_for_the_minimum_stay(rules) -> None:
    history = tier_changes(empty_tier_history(), pd.Series({10: 35000.0}), rules, ts("2026-03-01"))
    nothing = pd.Series(dtype="float64")
    # 30 days later the spend is gone from the window, but 90 days have not passed
    assert tier_changes(history, nothing, rules, ts("2026-03-31")).empty
    down = tier_changes(history, nothing, rules, ts("2026-06-01"))
    assert down[["customer_id", "tier", "direction"]].values.tolist() == [[10, "base", "down"]]


def test_window_is_rolling(rules) -> None:
    o = orders([(1, 10, "2025-01-10", 40000.0)])
    assert tier_basis(rules, ts("2025-06-01"), orders=o).to_dict() == {10: 40000.0}
    assert tier_basis(rules, ts("2026-02-01"), orders=o).empty


def test_tier_at_order_time(rules) -> None:
    history = tier_changes(empty_tier_history(), pd.Series({10: 35000.0}), rules, ts("2026-03-01"))
    o = orders([(1, 10, "2026-02-28", 1.0), (2, 10, "2026-03-02", 1.0), (3, 11, "2026-03-02", 1.0)])
    assert tier_at(o, history, rules).tolist() == ["base", "silver", "base"]
    assert current_tiers(history, ts("2026-03-05"))["tier"].to_dict() == {10: "silver"}


def test_points_basis(rules) -> None:
    from loyalty import make_entries

    points_rules = rules.model_copy(
        update={"tiers": rules.tiers.model_copy(update={"basis": "points"})}
    )
    led = make_entries(
        key=["a", "b"],
        customer_id=[1, 1],
        kind="earn",
        points=[300, 200],
        reason="purchase",
        occurred_at=pd.Series([ts("2026-01-01"), ts("2024-01-01")]),
        source_kind="order",
    )
    assert tier_basis(points_rules, ts("2026-02-01"), ledger=led).to_dict() == {1: 300.0}
