from __future__ import annotations

import pandas as pd
import pytest
from loyalty_helpers import burn, earn, ledger_of, ts

from loyalty import (
    adjustment_entry,
    append,
    balances,
    checkout_entry,
    expiry_entries,
    lot_state,
    redemption_entry,
    reversal_entries,
    statement,
    validate_ledger,
)
from loyalty.errors import InsufficientPointsError, InvalidLedgerError


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
    # 20 were left of the lot, 80 were spent and nothing else is there to reclaim them from:
    # 80 are offset (finance keeps 80 RUB of the refund)
    assert got == {
        "reverse:earn:7:base": -20,
        "reclaim:earn:7:base": -80,
        "offset:order:7:1": 80,
    }
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
    from loyalty.entries import _isin

    values = pd.Series(["earn:1", None, "earn:3", "burn:9"], dtype="str")
    keys = pd.Series(["earn:3", "earn:1", None], dtype="str")
    assert _isin(values, keys).tolist() == [True, False, True, False]
    assert _isin(values, pd.Series(["burn:9"])).tolist() == [False, False, False, True]
    assert _isin(values, pd.Series([], dtype="str")).tolist() == [False] * 4
    assert _isin(values.iloc[:0], keys).tolist() == []


def test_a_few_keys_looked_up_in_many_find_the_first_position_either_way() -> None:
    # the big-frame lookup hashes the smaller side: a repeated key gives its first position,
    # a repeated value the same position as its first occurrence, a missing one never matches
    from loyalty import entries
    from loyalty.entries import _lookup

    keys = pd.Series([f"earn:{i % 900}" for i in range(1000)] + [None], dtype="str")
    values = pd.Series(["earn:5", None, "earn:899", "nope", "earn:5", "earn:950"], dtype="str")
    expected = [5, -1, 899, -1, 5, -1]
    assert _lookup(values, keys).tolist() == expected  # small: a dict
    saved = entries.SMALL_ROWS
    entries.SMALL_ROWS = 0
    try:
        assert _lookup(values, keys).tolist() == expected  # few values in many keys
        assert _lookup(keys, values).tolist() == [
            0 if k == "earn:5" else 2 if k == "earn:899" else -1 for k in keys
        ]  # many values in few keys: the hash table is built on the keys
    finally:
        entries.SMALL_ROWS = saved


def test_repeated_keys_are_found_on_both_paths() -> None:
    from loyalty import entries
    from loyalty.entries import _repeats

    twice = pd.Series(["a", "b", "a"], dtype="str")
    once = pd.Series(["a", "b", None], dtype="str")
    saved = entries.SMALL_ROWS
    try:
        for small in (saved, 0):
            entries.SMALL_ROWS = small
            assert _repeats(twice) and not _repeats(once)
            assert _repeats(pd.Series(["a", None, None], dtype="str"))  # as pandas' duplicated
    finally:
        entries.SMALL_ROWS = saved


# --------------------------------------------------------------------------- issue 14 defects
def test_a_referred_order_returned_gives_each_customer_their_own_offset() -> None:
    # order 7 of friend 2 granted 2 its base and friend points and referrer 1 its points;
    # both spent everything before the return
    led = ledger_of(
        earn("earn:7:base", 2, 100, "2025-01-01", order=7),
        earn("referral:friend:2", 2, 300, "2025-01-01", order=7),
        earn("referral:referrer:2", 1, 500, "2025-01-01", order=7),
        burn("r1", 2, 400, "2025-02-01"),
        burn("r2", 1, 500, "2025-02-01"),
    )
    rev = reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2025-03-01"))
    offsets = rev[rev["reason"] == "return_offset"]
    assert dict(zip(offsets["customer_id"], offsets["points"], strict=True)) == {1: 500, 2: 400}
    led = append(led, rev)
    validate_ledger(led)
    bal = balances(led, ts("2025-03-01"))
    assert bal["balance"].to_dict() == {1: 0, 2: 0}


def test_a_lot_is_expired_at_the_instant_it_expires_for_every_function() -> None:
    # A expires at 2026-01-01 00:00; a burn at exactly that instant is charged to B
    led = ledger_of(earn("A", 1, 100, "2025-01-01"), earn("B", 1, 100, "2025-06-01"))
    at = ts("2026-01-01")
    assert balances(led, at).loc[1, "available"] == 100  # A no longer counts
    led = append(led, burn("r1", 1, 30, "2026-01-01"))
    assert expiry_entries(led, at)["points"].tolist() == [-100]  # all of A, none of the burn
    state = lot_state(led, at).set_index("lot_key")
    assert state.loc["A", ["expired", "spent", "left"]].tolist() == [100, 0, 0]
    assert state.loc["B", ["expired", "spent", "left"]].tolist() == [0, 30, 70]


def test_a_return_at_the_instant_a_lot_expires_books_what_one_second_later_books() -> None:
    def returned_at(when: str) -> pd.DataFrame:
        led = ledger_of(
            earn("A", 1, 100, "2025-01-01"),  # expires 2026-01-01 00:00
            earn("earn:7:base", 1, 50, "2025-06-01", order=7),
            burn("r1", 1, 50, "2025-07-01"),  # out of A
        )
        led = append(led, reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts(when)))
        return append(led, expiry_entries(led, ts("2026-01-02")))

    at_instant, later = returned_at("2026-01-01"), returned_at("2026-01-01 00:00:01")
    for led in (at_instant, later):
        kinds = led.groupby("reason")["points"].sum().to_dict()
        # 50 of A expire, order 7 takes back its own 50, nothing is offset
        assert kinds == {"purchase": 150, "redemption": -50, "return": -50, "expiry": -50}
        assert balances(led, ts("2026-01-02")).loc[1, "balance"] == 0


def test_a_return_inside_the_hold_does_not_renew_points_about_to_expire() -> None:
    # 200 points expiring on 1 Jan; a 300-point order on 20 Dec returned on 25 Dec
    led = ledger_of(
        earn("old", 1, 200, "2025-01-01"),
        earn("earn:7:base", 1, 300, "2025-12-20", hold_days=14, order=7),
    )
    rev = reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2025-12-25"))
    assert rev[["idempotency_key", "points"]].values.tolist() == [["reverse:earn:7:base", -300]]
    led = append(led, rev)
    led = append(led, expiry_entries(led, ts("2026-01-02")))
    bal = balances(led, ts("2026-01-02"))
    assert bal.loc[1, ["balance", "expired", "available"]].tolist() == [0, 200, 0]


def test_a_return_after_its_points_expired_does_not_take_them_again() -> None:
    led = ledger_of(
        earn("earn:7:base", 1, 100, "2025-01-01", order=7),  # expires 2026-01-01
        earn("B", 1, 50, "2025-06-01"),
    )
    led = append(led, expiry_entries(led, ts("2026-01-02")))
    assert reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2026-02-01")).empty
    assert balances(led, ts("2026-02-01")).loc[1, "balance"] == 50


def test_a_return_takes_its_own_lot_then_reclaims_what_was_spent_then_offsets() -> None:
    # order 7: 100 points, 80 of them spent (the oldest lot); B: 50 points of something else
    led = ledger_of(
        earn("earn:7:base", 1, 100, "2025-01-01", order=7),
        burn("r1", 1, 80, "2025-02-01"),
        earn("B", 1, 50, "2025-03-01"),
    )
    rev = reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2025-04-01"))
    got = dict(zip(rev["idempotency_key"], rev["points"], strict=True))
    assert got == {"reverse:earn:7:base": -20, "reclaim:earn:7:base": -80, "offset:order:7:1": 30}
    led = append(led, rev)
    assert balances(led, ts("2025-04-01")).loc[1, ["balance", "available"]].tolist() == [0, 0]
    # a rerun adds nothing; the lot B was reclaimed, so nothing of it expires later
    assert reversal_entries(led, pd.DataFrame({"order_id": [7]}), ts("2025-04-02")).empty
    assert expiry_entries(led, ts("2027-01-01"))["points"].sum() == 0


def test_a_retried_redemption_is_replayed_before_the_balance_is_checked() -> None:
    led = ledger_of(earn("A", 1, 300, "2025-01-01"))
    args = dict(customer_id=1, prize_id=5, points_price=300, quantity=1, stock=3, key="k")
    first = redemption_entry(available=300, as_of=ts("2025-02-01"), ledger=led, **args)
    led = append(led, first)
    # the retry sees 0 available points (they were spent by the first try): not refused
    again = redemption_entry(available=0, as_of=ts("2025-02-01 00:05"), ledger=led, **args)
    assert again[["idempotency_key", "points"]].values.tolist() == [["redeem:k", -300]]
    assert len(append(led, again)) == len(led)


def test_points_spent_at_checkout_and_operator_adjustments_are_public() -> None:
    led = ledger_of(earn("A", 1, 300, "2025-01-01"))
    pay = checkout_entry(
        customer_id=1, order_id=9, points=120, available=300, as_of=ts("2025-02-01")
    )
    assert pay[["idempotency_key", "kind", "points", "source_id"]].values.tolist() == [
        ["burn:9", "burn", -120, "9"]
    ]
    led = append(led, pay)
    assert checkout_entry(
        customer_id=1, order_id=9, points=120, available=0, as_of=ts("2025-02-01"), ledger=led
    )["points"].tolist() == [-120]
    with pytest.raises(InsufficientPointsError):
        checkout_entry(
            customer_id=1, order_id=10, points=200, available=180, as_of=ts("2025-02-01")
        )
    fix = adjustment_entry(
        customer_id=1,
        points=-50,
        operator="olga",
        reason="correction",
        key="t-1",
        as_of=ts("2025-02-02"),
        validity_days=365,
        available=180,
    )
    assert fix[["idempotency_key", "kind", "points", "operator"]].values.tolist() == [
        ["adjust:t-1", "adjust", -50, "olga"]
    ]
    with pytest.raises(InsufficientPointsError):
        adjustment_entry(
            customer_id=1,
            points=-500,
            operator="olga",
            reason="correction",
            key="t-2",
            as_of=ts("2025-02-02"),
            validity_days=365,
            available=180,
        )
    # a refund of the order gives the 120 points back as a new lot
    led = append(led, fix)
    back = reversal_entries(led, pd.DataFrame({"order_id": [9]}), ts("2025-03-01"))
    assert back[["idempotency_key", "points"]].values.tolist() == [["refund:burn:9", 120]]
