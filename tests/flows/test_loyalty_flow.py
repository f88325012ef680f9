"""The daily loyalty run, redemption, promo codes and the ``crm loyalty`` commands on a database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

import flows.loyalty
from crm import store
from crm.db import make_engine, session_scope
from crm.models.loyalty import LedgerEntry, Prize, PromoCode
from flows.loyalty import (
    DayPlan,
    book,
    day_end,
    ledger_after,
    load_inputs,
    plan_day,
    read_ledger,
    run_daily,
    split_inputs,
    write_plan,
)
from flows.loyalty_db import adjust_points, redeem, use_promo_code
from loyalty import balances, parse_rules
from loyalty.errors import InsufficientPointsError, OutOfStockError, PromoCodeError

RULES_YAML = """
program: {hold_days: 14, validity_days: 365, timezone: UTC}
purchase_rules:
  - {id: base, percent: 3}
bonuses: {welcome: 200}
referral: {referrer_points: 500, friend_points: 300, min_order_amount: 1000}
"""
RULES = parse_rules(RULES_YAML)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def seed(url: str) -> None:
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "first_name": ["Анна", "Boris", "Вера"],
            "is_loyalty_member": [True, True, True],
            "created_at": [utc("2026-03-01"), utc("2026-05-10 09:00"), utc("2026-05-01")],
        }
    )
    store.write_frame(url, customers, "customers")
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "relation_id": [1],
                "customer_id": [3],
                "related_customer_id": [1],
                "kind": ["referred_by"],
                "created_at": [utc("2026-05-01")],
            }
        ),
        "relations",
    )
    orders = pd.DataFrame(
        {
            "order_id": [1, 2],
            "customer_id": [1, 3],
            "ordered_at": [utc("2026-05-09 12:00"), utc("2026-05-10 10:00")],
            "amount": [1000.0, 2000.0],
            "status": ["paid", "paid"],
            "channel": ["store", "online"],
            "category": ["kids", "home"],
        }
    )
    store.write_frame(url, orders, "orders")


def test_daily_run_earns_once_and_reverses_a_return(db_url: str) -> None:
    seed(db_url)
    as_of = day_end(dt.date(2026, 5, 10), "UTC")
    first = run_daily(db_url, RULES, as_of)
    # 30 + 60 purchase points, a welcome for customer 2, a referral for customers 1 and 3
    assert (first["purchase"], first["welcome"], first["referral"]) == (2, 1, 2)
    assert first["entries_written"] == 5
    again = run_daily(db_url, RULES, as_of)
    assert again["entries_written"] == 0
    led = read_ledger(db_url)
    assert len(led) == 5
    bal = balances(led, as_of)
    assert bal.loc[1, ["balance", "pending", "available"]].tolist() == [530, 530, 0]
    assert bal.loc[2, ["balance", "available"]].tolist() == [200, 200]

    store.execute(db_url, "UPDATE orders SET status = 'returned' WHERE order_id = 2")
    later = day_end(dt.date(2026, 5, 12), "UTC")
    ret = run_daily(db_url, RULES, later)
    assert ret["return"] == 3  # order 2's points and both referral rewards
    assert run_daily(db_url, RULES, later)["entries_written"] == 0
    bal = balances(read_ledger(db_url), later)
    assert bal["balance"].to_dict() == {1: 30, 2: 200, 3: 0}
    rev = read_ledger(db_url, customer_id=1)
    assert rev.loc[rev["kind"] == "reverse", "ref_key"].tolist() == ["referral:referrer:3"]


def test_a_partial_return_reverses_its_share_of_the_points_once(db_url: str) -> None:
    seed(db_url)
    as_of = day_end(dt.date(2026, 5, 10), "UTC")
    run_daily(db_url, RULES, as_of)  # order 1: 1,000 roubles, 30 points (3 %)
    # 300 of the 1,000 roubles come back: 30 % of 30 points is 9
    store.execute(db_url, "UPDATE orders SET returned_amount = 300 WHERE order_id = 1")
    later = day_end(dt.date(2026, 5, 11), "UTC")
    ret = run_daily(db_url, RULES, later)
    assert (ret["return"], ret["entries_written"]) == (1, 1)
    mine = read_ledger(db_url, customer_id=1)
    back = mine[mine["kind"] == "reverse"]
    assert back[["idempotency_key", "points", "ref_key"]].values.tolist() == [
        ["reverse:earn:1:base@3000", -9, "earn:1:base"]
    ]
    assert run_daily(db_url, RULES, later)["entries_written"] == 0  # a rerun: nothing more
    assert run_daily(db_url, RULES, day_end(dt.date(2026, 5, 12), "UTC"))["return"] == 0
    # then the rest of the order: the other 21 points, and the referral stays (not order 1's)
    store.execute(db_url, "UPDATE orders SET status = 'returned' WHERE order_id = 1")
    last = day_end(dt.date(2026, 5, 13), "UTC")
    assert run_daily(db_url, RULES, last)["return"] == 1
    assert run_daily(db_url, RULES, last)["entries_written"] == 0
    mine = read_ledger(db_url, customer_id=1)
    assert sorted(mine.loc[mine["kind"] == "reverse", "points"].tolist()) == [-21, -9]
    assert balances(read_ledger(db_url), last).loc[1, "balance"] == 500  # the referral's


def _ledger_key_index(url: str) -> list[tuple[str, bool]]:
    engine = make_engine(url)
    try:
        indexes = inspect(engine).get_indexes("loyalty_ledger")
    finally:
        engine.dispose()
    return [(ix["name"], bool(ix["unique"])) for ix in indexes if ix["unique"]]


def test_a_history_written_in_bulk_rebuilds_its_unique_key_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # three entries take the bulk path here, as nine million do in a history backfill
    monkeypatch.setattr(store, "BULK_ROWS", 3)
    seed(db_url)
    as_of = day_end(dt.date(2026, 5, 10), "UTC")
    plan = plan_day(load_inputs(db_url, as_of), RULES, as_of, 30)
    # 2 purchases, 2 welcomes (customers 2 and 3 joined within 30 days), 2 referral rewards
    assert write_plan(db_url, plan, as_of)["entries_written"] == 6
    assert _ledger_key_index(db_url) == [("uq_loyalty_ledger_idempotency_key", True)]
    assert run_daily(db_url, RULES, as_of, lookback_days=30)["entries_written"] == 0
    # a bulk write repeating one key already written is refused whole by the rebuilt index
    again = plan.entries.copy()
    again.loc[1:, "idempotency_key"] = again.loc[1:, "idempotency_key"] + ":new"
    with pytest.raises(Exception, match=r"idempotency_key"):
        write_plan(db_url, DayPlan(again, plan.tier_changes.iloc[0:0]), as_of)
    assert len(read_ledger(db_url)) == 6
    assert _ledger_key_index(db_url) == [("uq_loyalty_ledger_idempotency_key", True)]


def test_tiers_are_written_once_per_change(db_url: str) -> None:
    rules = parse_rules(
        RULES_YAML
        + "tiers:\n  levels:\n    - {code: base, threshold: 0}\n"
        + "    - {code: silver, threshold: 1500, multiplier: 1.5}\n"
    )
    seed(db_url)
    as_of = day_end(dt.date(2026, 5, 10), "UTC")
    assert run_daily(db_url, rules, as_of)["tier_changes_written"] == 1
    assert run_daily(db_url, rules, as_of)["tier_changes_written"] == 0
    tiers = store.read_frame(db_url, "loyalty_tier_history")
    assert tiers[["customer_id", "tier", "direction"]].values.tolist() == [[3, "silver", "up"]]


@pytest.fixture
def session_factory(db_url: str) -> Iterator[object]:
    seed(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _burns(session) -> int:
    return session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "burn")
    )


def test_redemption_reserves_stock_and_burns_points_atomically(session_factory) -> None:
    engine = session_factory
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with session_scope(engine) as s:
        adjust_points(
            s, customer_id=1, points=1000, operator="anna", reason="goodwill",
            idempotency_key="gift-1", as_of=now, rules=RULES,
        )  # fmt: skip
        s.add(Prize(prize_id=1, sku="MUG", name="Mug", name_ru="Кружка", points_price=300, stock=2))
        s.add(Prize(prize_id=2, sku="TV", name="TV", points_price=5000, stock=5))
    with session_scope(engine) as s:
        r = redeem(s, customer_id=1, prize_id=1, idempotency_key="req-a", as_of=now)
        assert (r.points, r.stock_left, r.replayed) == (300, 1, False)
    with session_scope(engine) as s:  # the same request submitted twice
        again = redeem(s, customer_id=1, prize_id=1, idempotency_key="req-a", as_of=now)
        assert (again.redemption_id, again.stock_left, again.replayed) == (r.redemption_id, 1, True)
        assert _burns(s) == 1
    with session_scope(engine) as s:
        assert (
            redeem(s, customer_id=1, prize_id=1, idempotency_key="req-b", as_of=now).stock_left == 0
        )
    with pytest.raises(OutOfStockError), session_scope(engine) as s:
        redeem(s, customer_id=1, prize_id=1, idempotency_key="req-c", as_of=now)
    with (
        pytest.raises(InsufficientPointsError, match="needs 5000 points but has 400"),
        session_scope(engine) as s,
    ):
        redeem(s, customer_id=1, prize_id=2, idempotency_key="req-d", as_of=now)
    with session_scope(engine) as s:
        assert s.get(Prize, 2).stock == 5  # nothing reserved by the refused redemption
        assert s.get(Prize, 1).stock == 0
        assert _burns(s) == 2
    bal = balances(read_ledger(str(engine.url.render_as_string(hide_password=False))), now)
    assert bal.loc[1, "available"] == 400


def test_promo_codes_single_and_shared(session_factory) -> None:
    engine = session_factory
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    with session_scope(engine) as s:
        s.add(PromoCode(code="ONCE", kind="single", bonus_points=100, created_at=now))
        s.add(
            PromoCode(
                code="SPRING", kind="shared", discount_percent=10.0, max_uses=2,
                max_uses_per_customer=1, created_at=now,
                valid_to=dt.datetime(2026, 6, 30, tzinfo=dt.UTC),
            )
        )  # fmt: skip
    with session_scope(engine) as s:
        use = use_promo_code(
            s, code="ONCE", customer_id=1, idempotency_key="u1", as_of=now, rules=RULES
        )
        assert use.bonus_points == 100 and not use.replayed
        assert use_promo_code(
            s, code="ONCE", customer_id=1, idempotency_key="u1", as_of=now, rules=RULES
        ).replayed

    def refused(code: str, customer: int, key: str) -> str:
        with pytest.raises(PromoCodeError) as info, session_scope(engine) as s:
            use_promo_code(
                s, code=code, customer_id=customer, idempotency_key=key, as_of=now, rules=RULES
            )
        return info.value.reason

    assert refused("ONCE", 2, "u2") == "used_up"
    assert refused("NOPE", 2, "u3") == "unknown"
    with session_scope(engine) as s:
        use_promo_code(
            s, code="SPRING", customer_id=1, idempotency_key="s1", as_of=now, rules=RULES
        )
    assert refused("SPRING", 1, "s2") == "customer_limit"
    with session_scope(engine) as s:
        use_promo_code(
            s, code="SPRING", customer_id=2, idempotency_key="s3", as_of=now, rules=RULES
        )
    assert refused("SPRING", 3, "s4") == "used_up"
    with session_scope(engine) as s:
        assert s.scalar(select(PromoCode.uses).where(PromoCode.code == "SPRING")) == 2
        bonus = s.scalars(select(LedgerEntry.points).where(LedgerEntry.reason == "promo_code"))
        assert list(bonus) == [100]


def test_prefect_flow_is_rerun_safe(sqlite_url: str, tmp_path: Path, prefect_harness) -> None:
    from flows.loyalty import loyalty_daily_flow

    seed(sqlite_url)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML, encoding="utf-8")
    kwargs = {"run_date": dt.date(2026, 5, 10), "rules_path": str(rules), "url": sqlite_url}
    assert loyalty_daily_flow(**kwargs)["entries_written"] == 5
    assert loyalty_daily_flow(**kwargs)["entries_written"] == 0


def test_cli_balance_and_statement(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm.settings import get_settings
    from flows.cli import app

    seed(sqlite_url)
    run_daily(sqlite_url, RULES, day_end(dt.date(2026, 5, 10), "UTC"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML, encoding="utf-8")
    monkeypatch.setenv("CRM_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(
            app,
            [
                "loyalty",
                "balance",
                "1",
                "--as-of",
                "2026-05-11T00:00:00+00:00",
                "--rules",
                str(rules),
            ],
        )
        assert out.exit_code == 0, out.output
        text = " ".join(out.output.split())
        assert "530" in text and "530.00 RUB" in text
        st = runner.invoke(app, ["loyalty", "statement", "1"])
        assert st.exit_code == 0, st.output
        assert "+500" in st.output and "order 2" in " ".join(st.output.split())
        bad = tmp_path / "bad.yaml"
        bad.write_text("program:\n  hold_days: -1\n", encoding="utf-8")
        checked = runner.invoke(app, ["loyalty", "check-rules", str(bad)])
        assert checked.exit_code == 1
        assert "bad.yaml:2:" in checked.output and "program.hold_days" in checked.output
        unknown = runner.invoke(
            app,
            ["loyalty", "adjust", "999", "--points", "50", "--operator", "anna", "--reason", "x"],
        )
        assert unknown.exit_code == 1
        lines = unknown.output.strip().splitlines()
        assert len(lines) == 1 and "no customer_id 999; no such customer" in lines[0]
    finally:
        get_settings.cache_clear()


def test_yesterday_for_loyalty_comes_from_the_program_zone_alone() -> None:
    from flows.loyalty import loyalty_day

    moscow = parse_rules(RULES_YAML.replace("timezone: UTC", "timezone: Europe/Moscow"))
    # 22:30 UTC on 10 May is 01:30 on 11 May in Moscow: yesterday there is 10 May
    day, end = loyalty_day(moscow, as_of=utc("2026-05-10 22:30"))
    assert day == dt.date(2026, 5, 10)
    assert end == pd.Timestamp("2026-05-10 20:59:59.999999", tz="UTC")
    assert loyalty_day(RULES, as_of=utc("2026-05-10 22:30"))[0] == dt.date(2026, 5, 9)
    assert loyalty_day(RULES, run_date=dt.date(2026, 1, 3))[0] == dt.date(2026, 1, 3)


def test_the_command_runs_the_loyalty_flow_for_yesterday(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.loyalty
    from flows.cli import app

    calls: list[dict] = []
    monkeypatch.setattr(flows.loyalty, "loyalty_daily_flow", lambda **kw: calls.append(kw) or {})
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML, encoding="utf-8")
    out = CliRunner().invoke(app, ["loyalty", "run", "--date", "2026-05-10", "--rules", str(rules)])
    assert out.exit_code == 0, out.output
    assert calls[0]["run_date"] == dt.date(2026, 5, 10) and calls[0]["rules_path"] == str(rules)
    bad = CliRunner().invoke(app, ["loyalty", "run", "--date", "yesterday", "--rules", str(rules)])
    assert bad.exit_code == 1 and "--date yesterday" in bad.output


def test_a_day_run_reads_only_the_customers_it_books_and_plans_the_same(db_url: str) -> None:
    seed(db_url)
    # eight customers of last year with one order each, booked by an earlier run
    old = range(4, 12)
    store.write_frame(
        db_url,
        pd.DataFrame(
            {"customer_id": list(old), "first_name": "Олег", "created_at": utc("2025-01-01")}
        ),
        "customers",
    )
    store.write_frame(
        db_url,
        pd.DataFrame(
            {
                "order_id": [10 + i for i in old],
                "customer_id": list(old),
                "ordered_at": utc("2025-06-01"),
                "amount": 1000.0,
                "status": "paid",
            }
        ),
        "orders",
    )
    run_daily(db_url, RULES, day_end(dt.date(2026, 5, 8), "UTC"), lookback_days=500)
    as_of = day_end(dt.date(2026, 5, 10), "UTC")
    day = load_inputs(db_url, as_of, as_of - pd.Timedelta(days=3), RULES)
    # the day's orders (customers 1 and 3), the new customer 2, the referral pair 1-3
    assert not day.whole_ledger
    assert set(day.ledger["customer_id"]) <= {1, 2, 3}
    assert len(read_ledger(db_url)) > len(day.ledger)
    everything = load_inputs(db_url, as_of)
    by_key = ["idempotency_key"]
    windowed = plan_day(day, RULES, as_of, 3)
    full = plan_day(everything, RULES, as_of, 3)
    pd.testing.assert_frame_equal(
        windowed.entries.sort_values(by_key).reset_index(drop=True),
        full.entries.sort_values(by_key).reset_index(drop=True),
    )
    assert windowed.steps == full.steps and windowed.steps["purchase"] == 2


DAYS_RULES = parse_rules(
    """
program: {hold_days: 5, validity_days: 40, timezone: UTC}
purchase_rules:
  - {id: base, percent: 3}
tiers:
  basis: spend
  window_days: 30
  min_stay_days: 10
  levels:
    - {code: base, name: {en: Base}, threshold: 0, multiplier: 1.0}
    - {code: silver, name: {en: Silver}, threshold: 6000, multiplier: 1.5}
bonuses: {welcome: 200}
referral: {referrer_points: 500, friend_points: 300, min_order_amount: 1000}
"""
)


def _history(url: str, rng: np.random.Generator, start: pd.Timestamp) -> None:
    """30 members, 6 of them referred, 240 orders over the 90 days before ``start``."""
    n = 30
    ids = np.arange(1, n + 1)
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "customer_id": ids,
                "first_name": "Анна",
                "is_loyalty_member": True,
                "created_at": start - pd.to_timedelta(rng.integers(1, 120, n), unit="D"),
            }
        ),
        "customers",
    )
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "relation_id": np.arange(1, 7),
                "customer_id": np.arange(25, 31),
                "related_customer_id": np.arange(1, 7),
                "kind": "referred_by",
                "created_at": start - pd.Timedelta(days=120),
            }
        ),
        "relations",
    )
    _orders(url, rng, 1, 240, start - pd.Timedelta(days=90), start)


def _orders(
    url: str, rng: np.random.Generator, first: int, k: int, lo: pd.Timestamp, hi: pd.Timestamp
) -> None:
    span = int((hi - lo).total_seconds())
    store.write_frame(
        url,
        pd.DataFrame(
            {
                "order_id": np.arange(first, first + k),
                "customer_id": rng.integers(1, 31, k),
                "ordered_at": lo + pd.to_timedelta(rng.integers(1, span, k), unit="s"),
                "amount": np.round(rng.uniform(200, 3000, k), 2),
                "status": "paid",
            }
        ),
        "orders",
    )


def _return_some(url: str, rng: np.random.Generator, last_order: int) -> None:
    """Return a few orders whole and a few in part (some of them a second, larger part)."""
    whole = rng.choice(np.arange(1, last_order + 1), 3, replace=False).tolist()
    part = rng.choice(np.arange(1, last_order + 1), 4, replace=False).tolist()
    store.execute(
        url,
        f"UPDATE orders SET status = 'returned' WHERE order_id IN ({', '.join(map(str, whole))})",
    )
    share = float(rng.choice([0.2, 0.5, 0.8]))
    store.execute(
        url,
        f"UPDATE orders SET returned_amount = amount * {share} WHERE status = 'paid' "
        f"AND COALESCE(returned_amount, 0) < amount * {share} "
        f"AND order_id IN ({', '.join(map(str, part))})",
    )


def test_a_day_run_books_exactly_what_a_full_recomputation_books(db_url: str) -> None:
    # a day run reads only what changed (returns by their marks, open referrals, due lots
    # through the expiry index); each day it must plan exactly what the day planned over
    # every order and the whole ledger plans, and leave the same balances
    rng = np.random.default_rng(17)
    start = day_end(dt.date(2026, 5, 1), "UTC")
    _history(db_url, rng, start)
    run_daily(db_url, DAYS_RULES, start, lookback_days=120)  # the backfill
    last = 240
    by_key = ["idempotency_key"]
    booked = {"return": 0, "expiry": 0, "tier_changes": 0}
    for day in range(1, 16):
        as_of = start + pd.Timedelta(days=day)
        _orders(db_url, rng, last + 1, 4, as_of - pd.Timedelta(days=1), as_of)
        last += 4
        _return_some(db_url, rng, last)
        fast = load_inputs(db_url, as_of, as_of - pd.Timedelta(days=3), DAYS_RULES)
        full = load_inputs(db_url, as_of)
        windowed = plan_day(fast, DAYS_RULES, as_of, 3)
        everything = plan_day(full, DAYS_RULES, as_of, 3)
        pd.testing.assert_frame_equal(
            windowed.entries.sort_values(by_key).reset_index(drop=True),
            everything.entries.sort_values(by_key).reset_index(drop=True),
        )
        pd.testing.assert_frame_equal(
            windowed.tier_changes.reset_index(drop=True),
            everything.tier_changes.reset_index(drop=True),
        )
        assert windowed.steps == everything.steps, day
        written = write_plan(db_url, windowed, as_of)
        assert written["entries_written"] == len(windowed.entries)
        for step in booked:
            booked[step] += windowed.steps[step]
        # the liability published for the customers the day read is the whole ledger's
        mine = balances(ledger_after(fast, windowed), as_of)
        whole = balances(read_ledger(db_url), as_of)
        pd.testing.assert_frame_equal(mine, whole.loc[mine.index])
        assert run_daily(db_url, DAYS_RULES, as_of, lookback_days=3)["entries_written"] == 0
    # the fifteen days did book returns, expiries and tier changes
    assert min(booked.values()) > 0, booked


def _booked_tables(url: str) -> dict[str, pd.DataFrame]:
    """The loyalty tables as a run left them, in a stable order."""
    return {
        "ledger": read_ledger(url).sort_values("idempotency_key").reset_index(drop=True),
        "tiers": store.read_frame(url, "loyalty_tier_history")
        .drop(columns=["tier_change_id"], errors="ignore")
        .sort_values(["customer_id", "effective_at"])
        .reset_index(drop=True),
        "marks": store.read_frame(url, "loyalty_return_marks")
        .sort_values("order_id")
        .reset_index(drop=True),
    }


def test_a_backfill_booked_in_customer_parts_books_what_one_part_books(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a history too big for memory at once is planned, written and priced part by part; the
    # referral crosses customers (a chain 1 <- 25 <- 8: 25 was referred by 1, 8 by 25), and
    # its return reverses both sides, so a pair split between parts would book otherwise
    rng = np.random.default_rng(23)
    start = day_end(dt.date(2026, 5, 1), "UTC")
    _history(db_url, rng, start)
    store.write_frame(
        db_url,
        pd.DataFrame(
            {
                "relation_id": [7],
                "customer_id": [8],
                "related_customer_id": [25],
                "kind": ["referred_by"],
                "created_at": [start - pd.Timedelta(days=120)],
            }
        ),
        "relations",
    )
    _return_some(db_url, rng, 240)
    store.execute(  # the friends' first big orders come back: both sides' referral points go
        db_url,
        "UPDATE orders SET status = 'returned' WHERE order_id IN (SELECT MIN(order_id) FROM "
        "orders WHERE customer_id IN (8, 25, 26) AND amount >= 1000 GROUP BY customer_id)",
    )
    since = start - pd.Timedelta(days=120)
    inputs = load_inputs(db_url, start, since, DAYS_RULES)
    parts = list(split_inputs(inputs, 5))
    owner = {int(c): k for k, part in enumerate(parts) for c in part.customers["customer_id"]}
    assert sorted(owner) == list(range(1, 31)) and len(set(owner.values())) == 5
    assert owner[1] == owner[25] == owner[8] and owner[2] == owner[26]
    assert sum(len(p.orders) for p in parts) == len(inputs.orders)

    monkeypatch.setattr(flows.loyalty, "ORDERS_PER_PART", 50)  # 240 orders: five parts
    created = utc("2026-05-02 03:00")
    parted = book(db_url, inputs, DAYS_RULES, start, 120, created_at=created)
    assert parted.parts == 5
    assert parted.steps["referral"] > 0 and parted.steps["return"] > 0
    in_parts = _booked_tables(db_url)
    for table in ("loyalty_return_marks", "loyalty_tier_history", "loyalty_ledger"):
        store.execute(db_url, f"DELETE FROM {table}")
    whole = book(db_url, inputs, DAYS_RULES, start, 120, created_at=created, parts=1)
    assert whole.parts == 1
    for name, frame in _booked_tables(db_url).items():
        pd.testing.assert_frame_equal(in_parts[name], frame, obj=name)
    pd.testing.assert_frame_equal(parted.liability, whole.liability)
    assert parted.steps == whole.steps and parted.written == whole.written
    assert parted.points_granted == whole.points_granted > 0
    # and a rerun of the backfill adds nothing
    again = book(db_url, load_inputs(db_url, start, since, DAYS_RULES), DAYS_RULES, start, 120)
    assert again.written["entries_written"] == 0
