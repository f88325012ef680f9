from __future__ import annotations

import pandas as pd
import pytest
from loyalty_helpers import orders, ts

from loyalty import check_promo_code, customer_kpis, make_entries, redemption_entry
from loyalty.errors import InsufficientPointsError, OutOfStockError, PromoCodeError


def test_customer_kpis(rules) -> None:
    o = orders(
        [
            (1, 1, "2026-01-01", 100.0),
            (2, 1, "2026-02-01", 100.0),
            (3, 1, "2026-03-01", 100.0),
            (4, 1, "2026-04-01", 100.0),
            (5, 2, "2026-04-01", 100.0),
            (6, 2, "2026-04-02", 100.0, "returned", "", "store"),
        ]
    )
    led = make_entries(
        key=["a"],
        customer_id=[1],
        kind="earn",
        points=[250],
        reason="purchase",
        occurred_at=ts("2026-04-01"),
        source_kind="order",
    )
    refs = pd.DataFrame({"customer_id": [2, 3], "referrer_id": [1, 1]})
    k = customer_kpis(o, led, rules, ts("2026-05-01"), referrals=refs)
    assert k.loc[1, ["paid_orders", "repeat_orders", "loyalty_pct"]].tolist() == [4, 3, 75.0]
    assert k.loc[2, "loyalty_pct"] == 0.0  # one paid order, the other was returned
    assert k.loc[1, "liability"] == 250.0
    # friend 2 has bought, friend 3 has not yet: customer 1 has friends who want to buy
    assert k.loc[1, ["referred_friends", "friends_to_buy", "has_friends_to_buy"]].tolist() == [
        2,
        1,
        True,
    ]
    assert not k.loc[2, "has_friends_to_buy"]


def test_redemption_checks_stock_then_points() -> None:
    args = dict(customer_id=1, prize_id=5, points_price=300, key="k", as_of=ts("2026-05-01"))
    e = redemption_entry(quantity=2, available=600, stock=2, **args)
    assert e[["idempotency_key", "kind", "points", "rule"]].values.tolist() == [
        ["redeem:k", "burn", -600, "prize:5"]
    ]
    with pytest.raises(OutOfStockError, match="2 requested but only 1 left"):
        redemption_entry(quantity=2, available=600, stock=1, **args)
    with pytest.raises(InsufficientPointsError, match="needs 600 points but has 599"):
        redemption_entry(quantity=2, available=599, stock=5, **args)


@pytest.mark.parametrize(
    ("changes", "mine", "reason"),
    [
        ({"active": False}, 0, "inactive"),
        ({"valid_from": ts("2026-06-01")}, 0, "not_started"),
        ({"valid_to": ts("2026-04-30")}, 0, "expired"),
        ({"kind": "single", "uses": 1}, 0, "used_up"),
        ({"max_uses": 10, "uses": 10}, 0, "used_up"),
        ({"max_uses_per_customer": 1}, 1, "customer_limit"),
    ],
)
def test_promo_code_refusals(changes, mine, reason) -> None:
    code = {
        "code": "SPRING",
        "kind": "shared",
        "active": True,
        "valid_from": None,
        "valid_to": None,
        "max_uses": None,
        "uses": 0,
        "max_uses_per_customer": None,
    }
    check_promo_code(code, 0, ts("2026-05-01"))  # the plain code is fine
    with pytest.raises(PromoCodeError) as info:
        check_promo_code({**code, **changes}, mine, ts("2026-05-01"))
    assert info.value.reason == reason
