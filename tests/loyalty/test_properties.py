"""Ledger invariants for any sequence of events (hypothesis).

Events for a few customers over a year and a half: orders (optionally paying part with
points), redemptions, returns and daily expiry runs, applied in time order through the
same pure functions the daily flow uses.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loyalty_helpers import RULES_YAML

from loyalty import (
    append,
    balances,
    empty_ledger,
    expiry_entries,
    make_entries,
    max_burn_points,
    parse_rules,
    purchase_entries,
    reversal_entries,
    validate_ledger,
)

RULES = parse_rules(RULES_YAML.replace("validity_days: 365", "validity_days: 120"))
START = pd.Timestamp("2026-01-01", tz="UTC")

order_ev = st.tuples(
    st.just("order"),
    st.integers(0, 540),
    st.integers(1, 3),
    st.integers(100, 20000),
    st.integers(0, 2000),
)
redeem_ev = st.tuples(
    st.just("redeem"), st.integers(0, 540), st.integers(1, 3), st.integers(1, 3000), st.just(0)
)
return_ev = st.tuples(
    st.just("return"), st.integers(0, 540), st.integers(0, 40), st.just(0), st.just(0)
)
expire_ev = st.tuples(st.just("expire"), st.integers(0, 540), st.just(0), st.just(0), st.just(0))
events = st.lists(st.one_of(order_ev, redeem_ev, return_ev, expire_ev), max_size=16)


def simulate(evs: list[tuple]) -> tuple[pd.DataFrame, list[pd.DataFrame], set[int]]:
    """Apply events in time order; return the ledger, a balance snapshot after each event,
    and the ids of returned orders."""
    led = empty_ledger()
    snaps = []
    placed: list[int] = []
    returned: set[int] = set()
    for i, (kind, day, a, b, c) in enumerate(sorted(evs, key=lambda e: e[1])):
        at = START + pd.Timedelta(days=day, minutes=i)
        if kind == "order":
            oid = 1000 + i
            avail = balances(led, at)["available"].get(a, 0)
            use = min(c, max_burn_points(float(b), int(avail), RULES))
            if use > 0:
                led = append(
                    led,
                    make_entries(
                        key=f"burn:{oid}",
                        customer_id=a,
                        kind="burn",
                        points=-use,
                        reason="order_payment",
                        occurred_at=at,
                        source_kind="order",
                        source_id=str(oid),
                    ),
                )
            frame = pd.DataFrame(
                {
                    "order_id": [oid],
                    "customer_id": [a],
                    "ordered_at": [at],
                    "amount": [float(b) - use],
                    "status": ["paid"],
                }
            )
            led = append(led, purchase_entries(frame, RULES))
            placed.append(oid)
        elif kind == "redeem":
            avail = int(balances(led, at)["available"].get(a, 0))
            if 0 < b <= avail:
                led = append(
                    led,
                    make_entries(
                        key=f"redeem:{i}",
                        customer_id=a,
                        kind="burn",
                        points=-b,
                        reason="redemption",
                        occurred_at=at,
                        source_kind="redemption",
                    ),
                )
        elif kind == "return" and placed:
            oid = placed[a % len(placed)]
            returned.add(oid)
            led = append(
                led,
                reversal_entries(
                    led,
                    pd.DataFrame({"order_id": [oid]}),
                    at,
                    validity_days=RULES.program.validity_days,
                ),
            )
        else:
            led = append(led, expiry_entries(led, at))
        snaps.append(balances(led, at))
    return led, snaps, returned


FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(events)
def test_ledger_invariants(evs) -> None:
    led, snaps, returned = simulate(evs)
    validate_ledger(led)
    # a balance is the sum of its entries and is never negative, at every step
    for snap in snaps:
        assert (snap["balance"] >= 0).all()
        assert (snap["available"] >= 0).all()
        assert (snap["pending"] >= 0).all()
    end = START + pd.Timedelta(days=1200)
    sums = led.groupby("customer_id")["points"].sum()
    assert balances(led, end)["balance"].to_dict() == sums.to_dict()
    # a reversal takes back exactly what the returned order granted, grant by grant
    for oid in returned:
        grants = led[(led["kind"] == "earn") & (led["source_id"] == str(oid))]
        taken = led[(led["kind"] == "reverse") & led["ref_key"].isin(grants["idempotency_key"])]
        assert taken["points"].sum() == -grants["points"].sum()
        assert len(taken) == len(grants)
    # nothing expires twice: a final run far ahead expires each lot's rest once, then nothing
    led = append(led, expiry_entries(led, end))
    assert expiry_entries(led, end).empty
    exp = led[led["kind"] == "expire"]
    assert not exp["ref_key"].duplicated().any()
    lots = led.set_index("idempotency_key")["points"]
    assert (-exp["points"].to_numpy() <= lots.loc[exp["ref_key"]].to_numpy()).all()
    assert (balances(led, end)["balance"] == 0).all()


@FAST
@given(events)
def test_replaying_the_same_events_gives_the_same_ledger(evs) -> None:
    first, _, _ = simulate(evs)
    second, _, _ = simulate(evs)
    pd.testing.assert_frame_equal(first, second)
    # and feeding every entry again adds nothing
    assert len(append(first, second)) == len(first)
