from __future__ import annotations

import numpy as np
import pandas as pd
from loyalty_helpers import burn, earn, ledger_of, ts

from loyalty import append, balances, expiry_entries, make_entries
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


def test_fifo_order_ties_and_customer_codes_are_the_same_on_both_paths() -> None:
    # lots tied on customer and both instants (an order's several grants) are ordered by
    # key; customer codes by counting equal np.unique's; debits only reach their customers
    from loyalty import entries
    from loyalty.lots import _customer_codes, _debits_at, _fifo_order, _View

    rng = np.random.default_rng(7)
    n = 3000
    day = pd.Timestamp("2025-01-01", tz="UTC")
    key = [f"earn:{k}:base" for k in rng.permutation(n)]
    when = day + pd.to_timedelta(rng.integers(0, 5, n), unit="D")
    led = make_entries(
        key=np.asarray(key, dtype=object),
        customer_id=rng.integers(1, 60, n),
        kind="earn",
        points=10,
        reason="purchase",
        occurred_at=when,
        validity_days=365,
        source_kind="order",
    )
    v = _View(led)
    li = np.arange(v.n)
    avail, occ = v.avail, v.occ
    saved = entries.SMALL_ROWS
    try:
        entries.SMALL_ROWS = 10**9
        small = _fifo_order(v, li, v.cid, avail, occ)
        small_codes = _customer_codes(v.cid)
        probes = v.cid[:2500], occ[:2500]
        debit = (np.array([3, 7]), occ[:2], np.array([5, 9]))
        small_debits = _debits_at(*probes, *debit, strictly=True)
        entries.SMALL_ROWS = 0
        big = _fifo_order(_View(led), li, v.cid, avail, occ)
        big_codes = _customer_codes(v.cid)
        big_debits = _debits_at(*probes, *debit, strictly=True)
    finally:
        entries.SMALL_ROWS = saved
    assert small.tolist() == big.tolist()
    keys = led["idempotency_key"].to_numpy(dtype=object)[small]
    tied = (v.cid[small][1:] == v.cid[small][:-1]) & (avail[small][1:] == avail[small][:-1])
    assert tied.any() and (keys[1:][tied] > keys[:-1][tied]).all()
    assert all(a.tolist() == b.tolist() for a, b in zip(small_codes, big_codes, strict=True))
    assert all(
        a.tolist() == b.tolist()
        for a, b in zip(small_codes, np.unique(v.cid, return_inverse=True), strict=True)
    )
    assert small_debits.tolist() == big_debits.tolist()
    assert set(np.unique(v.cid[:2500][big_debits > 0])) <= {3, 7}
