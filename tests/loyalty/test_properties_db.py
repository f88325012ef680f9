"""The ledger state machine of :mod:`ledger_machine` through the database path.

The same random sequences, with every entry written by the daily run's bulk write
(:func:`flows.loyalty.write_plan`, ``INSERT … ON CONFLICT DO NOTHING``) and the ledger read
back from the database after each step (:func:`flows.loyalty.read_ledger`); redemptions and
operator adjustments go through :mod:`flows.loyalty_db` in their own transactions. Fewer
examples than the in-memory run: each step is a round trip to SQLite or PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from ledger_machine import RULES, SECOND, LedgerMachine

from crm import store
from crm.db import make_engine, session_scope
from crm.models.loyalty import Prize
from flows.loyalty import DayPlan, read_ledger, write_plan
from flows.loyalty_db import adjust_points, redeem
from loyalty import balances, empty_tier_history
from loyalty.errors import InsufficientPointsError

EXAMPLES = {"sqlite": 15, "postgresql": 6}


class DatabaseLedgerMachine(LedgerMachine):
    """:class:`LedgerMachine` whose ledger lives in a database."""

    url = ""
    engine: Any = None

    def reset(self) -> None:
        super().reset()
        for table in ("loyalty_redemptions", "loyalty_ledger", "loyalty_prizes"):
            store.execute(self.url, f"DELETE FROM {table}")

    def reload(self) -> None:
        self.led = read_ledger(self.url)

    def add(self, entries: pd.DataFrame) -> None:
        if entries.empty:
            return
        plan = DayPlan(entries, empty_tier_history())
        write_plan(self.url, plan, self.now)
        assert write_plan(self.url, plan, self.now)["entries_written"] == 0  # a rerun adds nothing
        self.reload()

    def _redeem(self, customer: int, points: int, retry: bool) -> None:
        self.n += 1
        key = f"r{self.n}"
        avail = self.available(customer)
        with session_scope(self.engine) as s:
            s.add(
                Prize(prize_id=self.n, sku=f"P{self.n}", name="prize", points_price=points, stock=9)
            )
        try:
            with session_scope(self.engine) as s:
                done = redeem(
                    s, customer_id=customer, prize_id=self.n, idempotency_key=key, as_of=self.now
                )
        except InsufficientPointsError:
            assert points > avail
            return
        assert points <= avail and not done.replayed
        if retry:
            with session_scope(self.engine) as s:
                again = redeem(
                    s,
                    customer_id=customer,
                    prize_id=self.n,
                    idempotency_key=key,
                    as_of=self.now + SECOND,
                )
            assert again.replayed and again.redemption_id == done.redemption_id
        self.reload()

    def _adjust(self, customer: int, points: int) -> None:
        self.n += 1
        avail = self.available(customer)
        try:
            with session_scope(self.engine) as s:
                adjust_points(
                    s,
                    customer_id=customer,
                    points=points,
                    operator="op",
                    reason="correction",
                    idempotency_key=f"a{self.n}",
                    as_of=self.now,
                    rules=RULES,
                )
        except InsufficientPointsError:
            assert -points > avail
            return
        self.reload()

    def teardown(self) -> None:
        log, led = list(self.log), self.led
        self.reset()
        for name, args in log:
            getattr(self, "_" + name)(*args)
        order = ["idempotency_key"]
        pd.testing.assert_frame_equal(
            self.led.sort_values(order).reset_index(drop=True),
            led.sort_values(order).reset_index(drop=True),
        )
        # what the database says the balances are is what the same entries say in memory
        if len(led):
            mem = balances(led, self.now)
            pd.testing.assert_frame_equal(balances(read_ledger(self.url), self.now), mem)


def test_the_ledger_keeps_its_promises_through_the_database(db_url: str) -> None:
    dialect = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    customers = pd.DataFrame({"customer_id": [1, 2, 3], "first_name": ["Анна", "Boris", "Вера"]})
    customers["created_at"] = pd.Timestamp("2025-12-01", tz="UTC")
    store.write_frame(db_url, customers, "customers")
    DatabaseLedgerMachine.url = db_url
    DatabaseLedgerMachine.engine = make_engine(db_url)
    try:
        run_state_machine_as_test(
            DatabaseLedgerMachine,
            settings=settings(
                max_examples=EXAMPLES[dialect],
                stateful_step_count=4,
                deadline=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        DatabaseLedgerMachine.engine.dispose()
