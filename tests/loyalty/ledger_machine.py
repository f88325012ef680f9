"""A hypothesis state machine that drives random event sequences through the public
``loyalty`` functions (imported as ledger_machine by the property tests).

Several customers at once (customer 3 was referred by customer 1): orders (paying part with
points), partial and full returns (a quarter, a half or the rest of an order at a time),
referral rewards, redemptions (over the balance, and retried with
the same key), operator adjustments, activity bonuses, tier runs, expiry runs, and the
passing of time, landing now and then exactly on a lot's expiry instant or a second
either side of it. After every step the ledger is checked against its promises and
against a plain-Python first-in-first-out model; at the end a replay of the same steps
from scratch must give the identical ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from loyalty_helpers import RULES_YAML

import loyalty.entries
from loyalty import (
    activity_entries,
    adjustment_entry,
    append,
    balances,
    checkout_entry,
    empty_ledger,
    empty_tier_history,
    expiry_entries,
    expiry_schedule,
    lot_state,
    parse_rules,
    purchase_entries,
    redemption_entry,
    referral_entries,
    reversal_entries,
    tier_at,
    tier_basis,
    tier_changes,
    validate_ledger,
)
from loyalty.errors import InsufficientPointsError

RULES = parse_rules(
    RULES_YAML.replace("validity_days: 365", "validity_days: 60").replace(
        "threshold: 30000", "threshold: 8000"
    )
)
START = pd.Timestamp("2026-01-01 09:00", tz="UTC")
CUSTOMERS = (1, 2, 3)
REFERRALS = pd.DataFrame({"customer_id": [3], "referrer_id": [1]})
SECOND = pd.Timedelta(seconds=1)


@contextmanager
def vectorised_only() -> Iterator[None]:
    """Every call inside takes the path for big frames (Arrow lookups), whatever the size."""
    saved = loyalty.entries.SMALL_ROWS
    loyalty.entries.SMALL_ROWS = 0
    try:
        yield
    finally:
        loyalty.entries.SMALL_ROWS = saved


def both_paths(call: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``call()`` on the small-input path, checked equal to the same call on the big-frame path."""
    small = call()
    with vectorised_only():
        big = call()
    pd.testing.assert_frame_equal(small, big)
    return small


def fifo_model(entries: list[dict[str, Any]]) -> dict[str, int]:
    """What each lot expires, replaying the entries one by one in plain Python.

    Positive entries are lots, spendable on ``[available_at, expires_at)`` and consumed
    oldest first; a return's ``reverse`` entry (reason ``return``) is charged to its own lot;
    every other debit (burn, reclaim, negative adjust) is taken first in, first out from the
    spendable lots. At one instant, lots expire first, then new lots arrive, then debits are
    taken. A debit that the spendable lots cannot cover is an overdraft: AssertionError.
    """
    lots: dict[int, list[dict[str, Any]]] = defaultdict(list)
    expired: dict[str, int] = {}
    rows = [r for r in entries if r["kind"] != "expire"]
    times = sorted(
        {r["occurred_at"] for r in rows}
        | {r["expires_at"] for r in rows if r["points"] > 0 and pd.notna(r["expires_at"])}
    )

    def expire_until(t: pd.Timestamp, inclusive: bool) -> None:
        for cust in lots.values():
            for lot in cust:
                due = lot["T"] <= t if inclusive else lot["T"] < t
                if due and lot["key"] not in expired:
                    expired[lot["key"]] = lot["left"]
                    lot["left"] = 0

    by_time: dict[pd.Timestamp, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_time[r["occurred_at"]].append(r)
    for t in times:
        expire_until(t, inclusive=True)
        now = sorted(by_time.get(t, []), key=lambda r: r["points"] < 0)
        for r in now:
            cid = r["customer_id"]
            if r["points"] > 0:
                avail = r["available_at"] if pd.notna(r["available_at"]) else r["occurred_at"]
                T = (
                    r["expires_at"]
                    if pd.notna(r["expires_at"])
                    else pd.Timestamp.max.tz_localize("UTC")
                )
                lots[cid].append(
                    {"key": r["idempotency_key"], "left": r["points"], "avail": avail, "T": T}
                )
                lots[cid].sort(key=lambda lot: (lot["avail"], lot["key"]))
            elif r["kind"] == "reverse" and r["reason"] == "return":
                lot = next(x for x in lots[cid] if x["key"] == r["ref_key"])
                assert -r["points"] <= lot["left"], f"return takes more than its lot: {r}"
                lot["left"] += r["points"]
            else:
                need = -r["points"]
                for lot in lots[cid]:
                    if lot["avail"] <= t and lot["key"] not in expired and need:
                        take = min(lot["left"], need)
                        lot["left"] -= take
                        need -= take
                assert need == 0, f"overdraft of {need} points: {r}"
    return expired


class LedgerMachine(RuleBasedStateMachine):
    """Random days of a small loyalty program, through the public pure functions."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, tuple[Any, ...]]] = []
        self.reset()

    def reset(self) -> None:
        self.led = empty_ledger()
        self.now = START
        self.orders: list[dict[str, Any]] = []
        self.history = empty_tier_history()
        self.events: list[dict[str, Any]] = []
        self._orders: pd.DataFrame | None = None
        self.last_expiry_run: pd.Timestamp | None = None
        self.n = 0

    # ------------------------------------------------------------------ plumbing
    def add(self, entries: pd.DataFrame) -> None:
        self.led = append(self.led, entries)
        assert len(append(self.led, entries)) == len(self.led)  # a rerun adds nothing

    def do(self, name: str, *args: Any) -> None:
        self.log.append((name, args))
        getattr(self, "_" + name)(*args)

    def available(self, customer: int) -> int:
        return int(balances(self.led, self.now)["available"].get(customer, 0))

    def orders_frame(self) -> pd.DataFrame:
        if self._orders is not None:
            return self._orders
        frame = pd.DataFrame(
            self.orders,
            columns=["order_id", "customer_id", "ordered_at", "amount", "status", "share"],
        )
        frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], utc=True).astype(
            "datetime64[us, UTC]"
        )
        self._orders = frame.astype(
            {"order_id": "int64", "customer_id": "int64", "amount": "float64"}
        )
        return self._orders

    # ------------------------------------------------------------------ the steps
    def _advance(self, days: int, minutes: int) -> None:
        self.now = self.now + pd.Timedelta(days=days, minutes=minutes)

    def _to_expiry(self, which: int, shift: int) -> None:
        exp = self.led.loc[self.led["expires_at"] > self.now, "expires_at"].sort_values()
        if len(exp):
            self.now = exp.iloc[which % len(exp)] + shift * SECOND

    def _order(self, customer: int, amount: int, use: int) -> None:
        self.n += 1
        oid = 1000 + self.n
        avail = self.available(customer)
        if use and avail >= RULES.burn.min_points:
            pay = min(use, avail, int(amount * RULES.burn.max_share))
            if pay > 0:
                self.add(
                    checkout_entry(
                        customer_id=customer,
                        order_id=oid,
                        points=pay,
                        available=avail,
                        as_of=self.now,
                        ledger=self.led,
                    )
                )
                amount -= pay
        self._orders = None
        self.orders.append(
            {
                "order_id": oid,
                "customer_id": customer,
                "ordered_at": self.now,
                "amount": float(amount),
                "status": "paid",
                "share": 0.0,
            }
        )
        frame = self.orders_frame()
        mine = frame[frame["order_id"] == oid].copy()
        mine["tier"] = tier_at(mine, self.history, RULES)
        self.add(both_paths(lambda: purchase_entries(mine, RULES)))
        self.add(referral_entries(REFERRALS, frame, RULES, self.now))

    def _return(self, which: int, part: float) -> None:
        paid = [o for o in self.orders if o["status"] == "paid"]
        if not paid:
            return
        order = paid[which % len(paid)]
        order["share"] = min(1.0, order["share"] + part)  # the lines returned so far
        if order["share"] >= 1.0:
            order["status"] = "returned"
        self._orders = None
        returned = pd.DataFrame(
            {"order_id": [order["order_id"]], "returned_share": [order["share"]]}
        )
        entries = both_paths(
            lambda: reversal_entries(
                self.led, returned, self.now, validity_days=RULES.program.validity_days
            )
        )
        self.add(entries)
        # reversing again adds nothing; a first order returned may make the next one "first"
        assert reversal_entries(self.led, returned, self.now).empty
        self.add(referral_entries(REFERRALS, self.orders_frame(), RULES, self.now))

    def _redeem(self, customer: int, points: int, retry: bool) -> None:
        self.n += 1
        key = f"r{self.n}"
        avail = self.available(customer)
        args = dict(customer_id=customer, prize_id=1, points_price=points, quantity=1, stock=9)
        try:
            entry = redemption_entry(
                available=avail, key=key, as_of=self.now, ledger=self.led, **args
            )
        except InsufficientPointsError:
            assert points > avail
            return
        assert points <= avail
        self.add(entry)
        if retry:  # the same request again, now that the points are gone: replayed, not refused
            again = redemption_entry(
                available=self.available(customer),
                key=key,
                as_of=self.now + SECOND,
                ledger=self.led,
                **args,
            )
            before = len(self.led)
            self.add(again)
            assert len(self.led) == before

    def _adjust(self, customer: int, points: int) -> None:
        self.n += 1
        avail = self.available(customer)
        try:
            entry = adjustment_entry(
                customer_id=customer,
                points=points,
                operator="op",
                reason="correction",
                key=f"a{self.n}",
                as_of=self.now,
                validity_days=RULES.program.validity_days,
                available=avail,
                ledger=self.led,
            )
        except InsufficientPointsError:
            assert -points > avail
            return
        self.add(entry)

    def _activity(self, customer: int, kind: str) -> None:
        self.n += 1
        self.events.append(
            {"event_id": self.n, "customer_id": customer, "kind": kind, "occurred_at": self.now}
        )
        events = pd.DataFrame(self.events)
        events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True)
        self.add(activity_entries(events, RULES))

    def _tiers(self) -> None:
        basis = tier_basis(RULES, self.now, orders=self.orders_frame())
        changes = tier_changes(self.history, basis, RULES, self.now)
        if len(changes):
            self.history = pd.concat([self.history, changes], ignore_index=True)
        assert tier_changes(self.history, basis, RULES, self.now).empty  # a rerun changes nothing

    def _expire(self) -> None:
        self.add(both_paths(lambda: expiry_entries(self.led, self.now)))
        assert expiry_entries(self.led, self.now).empty
        self.last_expiry_run = self.now

    # ------------------------------------------------------------------ hypothesis rules
    @rule(days=st.integers(0, 45), minutes=st.sampled_from([0, 0, 1, 600]))
    def advance(self, days: int, minutes: int) -> None:
        self.do("advance", days, minutes)

    @rule(which=st.integers(0, 5), shift=st.sampled_from([-1, 0, 0, 1]))
    def to_an_expiry_instant(self, which: int, shift: int) -> None:
        self.do("to_expiry", which, shift)

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        amount=st.integers(100, 9000),
        use=st.sampled_from([0, 0, 150, 5000]),
    )
    def order(self, customer: int, amount: int, use: int) -> None:
        self.do("order", customer, amount, use)

    @precondition(lambda self: bool(self.orders))
    @rule(which=st.integers(0, 20), part=st.sampled_from([0.25, 0.5, 1.0, 1.0]))
    def return_an_order(self, which: int, part: float) -> None:
        self.do("return", which, part)

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        points=st.integers(1, 600),
        retry=st.booleans(),
    )
    def redeem(self, customer: int, points: int, retry: bool) -> None:
        self.do("redeem", customer, points, retry)

    @rule(customer=st.sampled_from(CUSTOMERS), points=st.sampled_from([-300, -20, 40, 250]))
    def adjust(self, customer: int, points: int) -> None:
        self.do("adjust", customer, points)

    @rule(customer=st.sampled_from(CUSTOMERS), kind=st.sampled_from(["review", "app_install"]))
    def activity(self, customer: int, kind: str) -> None:
        self.do("activity", customer, kind)

    @rule()
    def tier_run(self) -> None:
        self.do("tiers")

    @rule()
    def expiry_run(self) -> None:
        self.do("expire")

    # ------------------------------------------------------------------ the promises
    @invariant()
    def ledger_keeps_its_promises(self) -> None:
        led = self.led
        if led.empty:
            return
        bal = both_paths(lambda: balances(led, self.now))
        both_paths(lambda: lot_state(led, self.now))
        both_paths(lambda: expiry_schedule(led, self.now + pd.Timedelta(days=30), self.now))
        upto = (led["occurred_at"] <= self.now).to_numpy()
        cid = led["customer_id"].to_numpy()[upto]
        pts = led["points"].to_numpy()[upto]
        sums = {int(c): int(pts[cid == c].sum()) for c in set(cid.tolist())}
        assert bal["balance"].to_dict() == sums
        assert (bal[["balance", "available", "pending"]].to_numpy() >= 0).all(), bal
        # expiry equals the plain FIFO model, and each lot expires once, within its size
        rows = led.to_dict("records")
        model = fifo_model(rows)
        size = {r["idempotency_key"]: r["points"] for r in rows}
        booked: dict[str, int] = {}
        for r in rows:
            if r["kind"] == "expire":
                assert r["ref_key"] not in booked, r
                booked[r["ref_key"]] = -r["points"]
                assert model.get(r["ref_key"]) == -r["points"], (r, model.get(r["ref_key"]))
                assert -r["points"] <= size[r["ref_key"]]
        if self.last_expiry_run is not None:
            ends = {r["idempotency_key"]: r["expires_at"] for r in rows}
            late = [k for k, v in model.items() if v > 0 and ends[k] <= self.last_expiry_run]
            assert all(k in booked for k in late), late
        # the reversals of a grant never take more than it granted, and only for an order
        # (partly) returned; a partial return takes no more than its share
        returned = {str(o["order_id"]) for o in self.orders if o["share"] > 0}
        taken: dict[str, int] = defaultdict(int)
        for r in rows:
            if r["kind"] == "reverse" and r["points"] < 0:
                taken[r["ref_key"]] -= r["points"]
                assert r["source_id"] in returned, r
        assert all(v <= size[k] for k, v in taken.items()), taken
        share = {str(o["order_id"]): o["share"] for o in self.orders}
        for r in rows:
            if r["kind"] == "earn" and r["source_kind"] == "order" and r["source_id"] in share:
                undone = taken.get(r["idempotency_key"], 0)
                assert undone <= share[r["source_id"]] * r["points"], (r, undone)

    def teardown(self) -> None:
        # a replay of the same steps from scratch gives the identical ledger
        log, led = list(self.log), self.led
        self.reset()
        for name, args in log:
            getattr(self, "_" + name)(*args)
        pd.testing.assert_frame_equal(self.led, led)
        validate_ledger(led)
