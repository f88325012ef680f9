from __future__ import annotations

import datetime as dt

import pandas as pd
from loyalty_helpers import orders, ts

from loyalty import (
    activity_entries,
    append,
    birthday_entries,
    empty_ledger,
    referral_entries,
    reversal_entries,
    welcome_entries,
)


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "created_at": pd.to_datetime(
                ["2026-05-01 10:00", "2026-05-01 11:00", "2026-04-01 00:00"], utc=True
            ),
            "birth_date": [dt.date(1992, 2, 29), dt.date(1980, 5, 2), None],
            "is_loyalty_member": [True, False, True],
            "status": ["active", "active", "active"],
        }
    )


def test_welcome_for_new_members_only(rules) -> None:
    e = welcome_entries(_customers(), rules, ts("2026-04-30"), ts("2026-05-02"))
    assert e[["idempotency_key", "customer_id", "points"]].values.tolist() == [
        ["welcome:1", 1, 200]
    ]


def test_birthday_on_the_local_day_and_29_february(rules) -> None:
    # 2027 is not a leap year: the 29 February birthday is celebrated on 28 February
    e = birthday_entries(_customers(), rules, ts("2027-02-27 21:00"), ts("2027-02-28 21:00"))
    assert e[["idempotency_key", "points"]].values.tolist() == [["birthday:1:2027", 500]]
    assert e.iloc[0]["occurred_at"] == ts("2027-02-27 21:00")  # midnight in Moscow
    # customer 2 is not a member
    assert birthday_entries(_customers(), rules, ts("2026-05-01"), ts("2026-05-03")).empty


def test_activity_bonus_once_kinds_pay_once(rules) -> None:
    ev = pd.DataFrame(
        {
            "event_id": [1, 2, 3, 4, 5],
            "customer_id": [1, 1, 1, 1, 1],
            "kind": ["app_install", "app_install", "review", "review", "unknown"],
            "occurred_at": pd.to_datetime(
                ["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05"], utc=True
            ),
        }
    )
    e = activity_entries(ev, rules)
    assert e[["idempotency_key", "points"]].values.tolist() == [
        ["activity:app_install:1", 100],
        ["activity:3", 50],
        ["activity:4", 50],
    ]


def test_referral_rewards_both_sides_after_first_paid_order(rules) -> None:
    refs = pd.DataFrame({"customer_id": [2, 3], "referrer_id": [1, 1]})
    o = orders(
        [
            (10, 2, "2026-05-01", 500.0, "cancelled", "", "store"),
            (11, 2, "2026-05-02", 1500.0, "paid", "", "store"),
            (12, 3, "2026-05-02", 900.0, "paid", "", "store"),  # below the minimum
        ]
    )
    e = referral_entries(refs, o, rules, ts("2026-05-10"))
    assert sorted(zip(e["idempotency_key"], e["customer_id"], e["points"], strict=True)) == [
        ("referral:friend:2", 2, 300),
        ("referral:referrer:2", 1, 500),
    ]
    assert set(e["source_id"]) == {"11"}
    # returning the friend's first order takes both rewards back
    led = append(empty_ledger(), e)
    rev = reversal_entries(led, pd.DataFrame({"order_id": [11]}), ts("2026-05-12"))
    assert sorted(rev["points"].tolist()) == [-500, -300]


def test_referral_points_of_a_late_first_order_are_not_back_dated(rules) -> None:
    # friend 2's first order (too small) is returned a year later; the next order becomes
    # "first": its referral points are dated when granted, not at the old order, already
    # expired and behind expiries booked since
    refs = pd.DataFrame({"customer_id": [2], "referrer_id": [1]})
    placed = [
        (10, 2, "2026-01-10", 500.0, "paid", "", "store"),
        (11, 2, "2026-01-20", 2000.0, "paid", "", "store"),
    ]
    assert referral_entries(refs, orders(placed), rules, ts("2026-02-01")).empty
    placed[0] = (10, 2, "2026-01-10", 500.0, "returned", "", "store")
    e = referral_entries(refs, orders(placed), rules, ts("2027-03-01"))
    assert set(e["source_id"]) == {"11"}
    # dated no earlier than hold_days (14) before the run: available at the run, never before
    assert set(e["occurred_at"]) == {ts("2027-02-15")}
    assert set(e["available_at"]) == {ts("2027-03-01")}
    assert set(e["expires_at"]) == {ts("2028-02-29")}
    # an order inside that window keeps its own date
    recent = [(20, 2, "2027-02-25", 2000.0, "paid", "", "store")]
    e = referral_entries(refs, orders(recent), rules, ts("2027-03-01"))
    assert set(e["occurred_at"]) == {ts("2027-02-25")}
