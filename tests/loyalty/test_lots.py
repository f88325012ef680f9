from __future__ import annotations

from loyalty_helpers import burn, earn, ledger_of, ts

from loyalty import append, balances, expiry_entries
from loyalty.lots import POINTS_COLUMNS, points_balances


def test_points_balances_are_the_balances_of_three_columns() -> None:
    # customer 1: 100 earned, 30 spent, the other 70 expired on 2026-01-01 once booked;
    # customer 2: 40 earned on 2025-06-01; customer 3: earns only after the moment asked about
    led = ledger_of(
        earn("A", 1, 100, "2025-01-01"),
        burn("r1", 1, 30, "2025-02-01"),
        earn("B", 2, 40, "2025-06-01"),
        earn("C", 3, 25, "2026-03-01"),
    )
    led = append(led, expiry_entries(led, ts("2026-01-02")))
    for at, expected in (
        ("2025-01-15", {1: 100}),
        ("2025-03-01", {1: 70}),
        ("2025-07-01", {1: 70, 2: 40}),
        ("2026-01-02", {1: 0, 2: 40}),
        ("2026-04-01", {1: 0, 2: 40, 3: 25}),
    ):
        light = points_balances(led[list(POINTS_COLUMNS)], ts(at))
        assert light.to_dict() == expected, at
        assert light.to_dict() == balances(led, ts(at))["balance"].to_dict(), at
    assert light.name == "points_balance" and light.index.name == "customer_id"


def test_points_balances_of_an_empty_ledger_is_empty() -> None:
    assert points_balances(ledger_of()[list(POINTS_COLUMNS)], ts("2026-01-01")).empty
