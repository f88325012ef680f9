"""Decay (D8): suppression candidates with reasons, never deleted, lifted when they no longer hold."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from crm.hygiene.decay import last_activity, plan_suppressions, suppression_candidates

AS_OF = pd.Timestamp("2026-06-01", tz="UTC")


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "status": ["active", "active", "active", "active", "duplicate"],
            "created_at": pd.to_datetime(
                ["2020-01-01", "2025-01-01", "2019-01-01", "2025-01-01", "2019-01-01"], utc=True
            ),
        }
    )


def _points() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 3, 4, 5],
            "kind": ["email", "email", "phone", "phone", "phone", "phone"],
            "value": ["a@mail.ru", "b@mail.ru", "12345", "+79161234567", "000", "001"],
            "is_valid": [True, True, False, True, False, False],
            "invalid_reason": [None, None, "too_short", None, "too_short", "too_short"],
        }
    )


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 2],
            "channel": ["email", "email", "email"],
            "kind": ["bounced", "opened", "bounced"],
            "detail": ["hard", None, "soft"],
            "occurred_at": pd.to_datetime(["2026-03-01", "2026-04-01", "2026-04-02"], utc=True),
        }
    )


def test_last_activity_takes_the_latest_sign_of_life() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": [3, 3],
            "ordered_at": pd.to_datetime(["2021-05-01", "2030-01-01"], utc=True),
        }
    )
    act = last_activity(_customers(), AS_OF, orders=orders, events=_events())
    assert act.loc[3] == pd.Timestamp("2021-05-01", tz="UTC")  # the future order is ignored
    assert act.loc[2] == pd.Timestamp(
        "2026-04-01", tz="UTC"
    )  # an opened message counts, a bounce does not
    assert act.loc[1] == pd.Timestamp("2020-01-01", tz="UTC")


def test_candidates_with_reasons() -> None:
    act = last_activity(_customers(), AS_OF, events=_events())
    cand = suppression_candidates(
        _customers(), _points(), _events(), act, AS_OF, stale_after_days=3 * 365
    )
    got = {(r.customer_id, r.scope, r.target, r.reason) for r in cand.itertuples()}
    assert got == {
        (1, "email", "", "hard_bounce"),  # 2's soft bounce is not suppressed
        (1, "customer", "", "unreachable"),  # its only email bounced hard
        (2, "phone", "12345", "invalid_phone"),
        (4, "phone", "000", "invalid_phone"),
        (4, "customer", "", "unreachable"),
        (1, "customer", "", "stale"),  # created 2020, nothing since: more than three years
        (3, "customer", "", "stale"),
    }
    assert (
        cand.loc[cand["reason"] == "stale", "detail"].tolist()[0] == "no activity since 2020-01-01"
    )
    assert 5 not in set(cand["customer_id"])  # duplicates are identity resolution's business


def test_plan_adds_new_lifts_gone_and_a_rerun_is_a_no_op() -> None:
    customers = _customers()
    act = last_activity(customers, AS_OF, events=_events())
    cand = suppression_candidates(customers, _points(), _events(), act, AS_OF)
    plan = plan_suppressions(cand, pd.DataFrame(), customers, AS_OF)
    assert plan.new == len(cand) and plan.lifted == 0
    assert dict(zip(plan.statuses["customer_id"], plan.statuses["status"], strict=True)) == {
        1: "suppressed",
        3: "suppressed",
        4: "suppressed",
    }

    stored = plan.writes.copy()
    customers2 = customers.assign(
        status=customers["customer_id"]
        .map({1: "suppressed", 3: "suppressed", 4: "suppressed"})
        .fillna(customers["status"])
    )
    again = plan_suppressions(cand, stored, customers2, AS_OF)
    assert (
        again.new == 0 and again.lifted == 0 and not len(again.writes) and not len(again.statuses)
    )

    # customer 3 buys again: "stale" no longer holds, it is lifted (kept, with lifted_at)
    later = AS_OF + pd.Timedelta(days=30)
    orders = pd.DataFrame({"customer_id": [3], "ordered_at": [AS_OF + pd.Timedelta(days=1)]})
    act2 = last_activity(customers2, later, orders=orders, events=_events())
    cand2 = suppression_candidates(customers2, _points(), _events(), act2, later)
    plan2 = plan_suppressions(cand2, stored, customers2, later)
    lifted = plan2.writes[plan2.writes["lifted_at"].notna()]
    assert lifted[["customer_id", "reason"]].values.tolist() == [[3, "stale"]]
    assert plan2.statuses.values.tolist() == [[3, "active"]]


def test_a_hard_bounce_is_never_lifted_automatically() -> None:
    customers = _customers()
    stored = pd.DataFrame(
        {
            "customer_id": [1],
            "scope": ["email"],
            "target": [""],
            "reason": ["hard_bounce"],
            "detail": ["hard bounce on record"],
            "evidence_at": [AS_OF],
            "suppressed_at": [AS_OF],
            "lifted_at": [pd.NaT],
        }
    )
    empty = suppression_candidates(
        customers.iloc[0:0],
        _points().iloc[0:0],
        None,
        pd.Series(dtype="datetime64[us, UTC]"),
        AS_OF,
    )
    plan = plan_suppressions(empty, stored, customers, AS_OF + dt.timedelta(days=1))
    assert plan.lifted == 0 and not len(plan.writes)
