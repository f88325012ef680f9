"""Partial returns (loyalty.returns): the returned share of each grant, once, never beyond it."""

from __future__ import annotations

import pandas as pd
import pytest
from loyalty_helpers import burn, earn, ledger_of, ts

from loyalty import append, balances, reversal_entries, validate_ledger


def returned(order: int, share: float) -> pd.DataFrame:
    return pd.DataFrame({"order_id": [order], "returned_share": [share]})


def keyed(entries: pd.DataFrame) -> dict[str, int]:
    return dict(zip(entries["idempotency_key"], entries["points"], strict=True))


def test_half_an_order_returned_takes_half_of_its_own_lot_then_the_rest() -> None:
    led = ledger_of(earn("earn:7:base", 1, 100, "2025-01-01", order=7))
    half = reversal_entries(led, returned(7, 0.5), ts("2025-02-01"))
    assert keyed(half) == {"reverse:earn:7:base@5000": -50}
    led = append(led, half)
    # the same share again (a rerun) adds nothing
    assert reversal_entries(led, returned(7, 0.5), ts("2025-02-02")).empty
    rest = reversal_entries(led, returned(7, 1.0), ts("2025-03-01"))
    assert keyed(rest) == {"reverse:earn:7:base": -50}
    led = append(led, rest)
    assert balances(led, ts("2025-03-01")).loc[1, "balance"] == 0
    validate_ledger(led)


def test_a_partial_return_of_a_spent_grant_reclaims_only_its_share() -> None:
    # the docstring's example: 100 granted, 80 spent, 20 left; 50 other points
    led = ledger_of(
        earn("earn:7:base", 1, 100, "2025-01-01", order=7),
        burn("r1", 1, 80, "2025-02-01"),
        earn("B", 1, 50, "2025-03-01"),
    )
    half = reversal_entries(led, returned(7, 0.5), ts("2025-04-01"))
    assert keyed(half) == {"reverse:earn:7:base@5000": -20, "reclaim:earn:7:base@5000": -30}
    led = append(led, half)
    assert balances(led, ts("2025-04-01")).loc[1, "balance"] == 20
    # returning the rest: 50 more to reclaim, 20 there, 30 offset: as if returned at once
    rest = reversal_entries(led, returned(7, 1.0), ts("2025-05-01"))
    assert keyed(rest) == {"reclaim:earn:7:base": -50, "offset:order:7:1": 30}
    led = append(led, rest)
    assert balances(led, ts("2025-05-01")).loc[1, "balance"] == 0


def test_a_partial_return_refunds_the_same_share_of_the_points_paid() -> None:
    led = ledger_of(
        earn("A", 1, 500, "2025-01-01"),
        burn("burn:9", 1, 200, "2025-02-01", order=9),
    )
    quarter = reversal_entries(led, returned(9, 0.25), ts("2025-02-10"))
    assert keyed(quarter) == {"refund:burn:9@2500": 50}
    led = append(led, quarter)
    rest = reversal_entries(led, returned(9, 1.0), ts("2025-02-11"))
    assert keyed(rest) == {"refund:burn:9": 150}


def test_a_share_outside_zero_to_one_is_refused_naming_the_order() -> None:
    led = ledger_of(earn("earn:7:base", 1, 100, "2025-01-01", order=7))
    with pytest.raises(ValueError, match=r"order 7 has 1\.5"):
        reversal_entries(led, returned(7, 1.5), ts("2025-02-01"))
