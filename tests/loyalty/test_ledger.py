from __future__ import annotations

import pandas as pd
import pytest
from loyalty_helpers import ts

from loyalty import (
    append,
    balances,
    empty_ledger,
    expiry_entries,
    make_entries,
    reversal_entries,
    statement,
    validate_ledger,
)
from loyalty.errors import InvalidLedgerError


def earn(key, cid, points, at, hold_days=0, order=None, validity=365):
    when = ts(at)
    return make_entries(
        key=key,
        customer_id=cid,
        kind="earn",
        points=points,
        reason="purchase",
        rule="base",
        occurred_at=when,
        available_at=when + pd.Timedelta(days=hold_days),
        validity_days=validity,
        source_kind="order" if order else "test",
        source_id=str(order) if order else None,
    )


def burn(key, cid, points, at, order=None):
    return make_entries(
        key=key,
        customer_id=cid,
        kind="burn",
        points=-points,
        reason="redemption",
        occurred_at=ts(at),
        source_kind="order" if order else "redemption",
        source_id=str(order) if order else key,
    )


def ledger_of(*parts):
    led = empty_ledger()
    for p in parts:
        led = append(led, p)
    return led


def test_balance_pending_and_available() -> None:
    led = ledger_of(earn("a", 1, 100, "2025-01-01", hold_days=14), earn("b", 2, 40, "2025-01-01"))
    early = balances(led, ts("2025-01-05"))
    assert early.loc[1, ["balance", "pending", "available"]].tolist() == [100, 100, 0]
    assert early.loc[2, ["balance", "pending", "available"]].tolist() == [40, 0, 40]
    later = balances(led, ts("2025-01-20"))
    assert later.loc[1, ["balance", "pending", "available"]].tolist() == [100, 0, 100]
    assert later.loc[1, "liability"] == 100.0


def test_expiry_is_first_in_first_out_and_happens_once() -> None:
    # lot A 100 (expires 2026-01-01), lot B 50; a burn of 70 comes out of A first
    led = ledger_of(
        earn("A", 1, 100, "2025-01-01"),
        earn("B", 1, 50, "2025-06-01"),
        burn("r1", 1, 70, "2025-03-01"),
    )
    first = expiry_entries(led, ts("2026-01-02"))
    assert first[["idempotency_key", "points"]].values.tolist() == [["expire:A", -30]]
    assert first.iloc[0]["occurred_at"] == ts("2026-01-01")
    led = append(led, first)
    assert expiry_entries(led, ts("2026-01-02")).empty  # a rerun expires nothing more
    second = expiry_entries(led, ts("2026-06-02"))
    assert second[["idempotency_key", "points"]].values.tolist() == [["expire:B", -50]]
    led = append(led, second)
    assert balances(led, ts("2026-06-02")).loc[1, "balance"] == 0


def test_spending_after_an_expiry_is_charged_to_the_next_lot() -> None:
    led = ledger_of(
        earn("A", 1, 100, "2025-01-01"),
        burn("r1", 1, 30, "2025-02-01"),
        earn("B", 1, 50, "2025-12-01"),
    )
    led = append(led, expiry_entries(led, ts("2026-01-02")))  # A: 70 expire
    led = append(led, burn("r2", 1, 20, "2026-02-01"))  # out of B
    late = expiry_entries(led, ts("2026-12-02"))
    assert late["points"].tolist() == [-30]
    led = append(led, late)
    assert balances(led, ts("2026-12-02")).loc[1, ["balance", "expired"]].tolist() == [0, 100]


def test_expiring_soon_forecast() -> None:
    led = ledger_of(earn("A", 1, 100, "2025-01-01"), earn("B", 1, 50, "2025-06-01"))
    bal = balances(led, ts("2025-12-10"), expiring_within_days=30)
    assert bal.loc[1, "expiring"] == 100  # A expires 2026-01-01, B not within 30 days


def test_reversal_takes_back_exactly_each_grant() -> None:
    led = ledger_of(
        earn("earn:7:base", 1, 30, "2025-01-01", hold_days=14, order=7),
        earn("earn:7:promo", 1, 30, "2025-01-01", hold_days=14, order=7),
        earn("other", 1, 10, "2025-01-01", order=8),
    )
    rev = reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2025-01-05"))
    assert sorted(zip(rev["ref_key"], rev["points"], strict=True)) == [
        ("earn:7:base", -30),
        ("earn:7:promo", -30),
    ]
    assert set(rev["kind"]) == {"reverse"}
    led = append(led, rev)
    # the grants were still on hold: nothing was spendable, so no offset was needed
    assert balances(led, ts("2025-01-05")).loc[1, ["balance", "pending"]].tolist() == [10, 0]
    assert reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2025-01-06")).empty


def test_return_after_points_were_spent_is_offset_and_refunds_points_paid() -> None:
    led = ledger_of(
        earn("earn:7:base", 1, 100, "2025-01-01", order=7),
        burn("burn:9", 1, 80, "2025-02-01", order=9),  # paid part of order 9 with points
    )
    rev = reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2025-03-01"))
    got = dict(zip(rev["idempotency_key"], rev["points"], strict=True))
    # 100 taken back, but only 20 were left: 80 are offset (finance keeps 80 RUB of the refund)
    assert got == {"reverse:earn:7:base": -100, "offset:order:7": 80}
    led = append(led, rev)
    assert balances(led, ts("2025-03-01")).loc[1, "balance"] == 0
    refund = reversal_entries(led, pd.DataFrame({"order_id": [9]}), ts("2025-03-02"))
    assert refund[["idempotency_key", "points"]].values.tolist() == [["refund:burn:9", 80]]


def test_statement_has_running_balance() -> None:
    led = ledger_of(earn("A", 1, 100, "2025-01-01"), burn("r1", 1, 30, "2025-02-01"))
    st = statement(led, 1)
    assert st["running_balance"].tolist() == [100, 70]


def test_validation_refuses_duplicates_and_wrong_signs() -> None:
    led = ledger_of(earn("A", 1, 100, "2025-01-01"))
    with pytest.raises(InvalidLedgerError, match="keys must be unique"):
        validate_ledger(pd.concat([led, led]))
    bad = led.assign(points=-5)
    with pytest.raises(InvalidLedgerError, match="earn is positive") as info:
        validate_ledger(bad)
    assert info.value.field == "points" and info.value.keys == ("A",)


def test_append_is_idempotent() -> None:
    led = ledger_of(earn("A", 1, 100, "2025-01-01"))
    assert len(append(led, earn("A", 1, 999, "2025-01-01"))) == 1


def test_key_lookup_matches_isin_and_never_matches_a_missing_key() -> None:
    from loyalty.ledger import _isin

    values = pd.Series(["earn:1", None, "earn:3", "burn:9"], dtype="str")
    keys = pd.Series(["earn:3", "earn:1", None], dtype="str")
    assert _isin(values, keys).tolist() == [True, False, True, False]
    assert _isin(values, pd.Series(["burn:9"])).tolist() == [False, False, False, True]
    assert _isin(values, pd.Series([], dtype="str")).tolist() == [False] * 4
    assert _isin(values.iloc[:0], keys).tolist() == []
