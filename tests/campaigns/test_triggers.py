"""Triggers: each kind on a hand-built base; deterministic keys; reruns and late runs."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from campaigns.definitions import Trigger
from campaigns.triggers import evaluate_trigger, new_firings

TZ = "Europe/Moscow"
AS_OF = pd.Timestamp("2026-12-01 02:30", tz="UTC")  # 05:30 in Moscow on 1 December


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _fire(kind: str, tables: dict[str, pd.DataFrame], as_of: object = AS_OF, **kw: object):
    return evaluate_trigger(Trigger(kind=kind, **kw), "c1", tables, as_of, TZ)  # type: ignore[arg-type]


def _customers(**cols: list[object]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base: dict[str, list[object]] = {"customer_id": list(range(1, n + 1)), "status": ["active"] * n}
    base.update(cols)
    return pd.DataFrame(base)


def test_birthday_in_the_customers_own_time_zone_and_29_february() -> None:
    customers = _customers(
        birth_date=[
            dt.date(1990, 12, 1),  # today in Moscow
            dt.date(1990, 11, 30),  # yesterday in Moscow
            dt.date(1992, 2, 29),  # celebrated on 28 Feb in 2027
            dt.date(1985, 12, 2),  # tomorrow in Moscow, already today in Kamchatka (UTC+12)
        ],
        timezone=["Europe/Moscow", "Europe/Moscow", None, "Asia/Kamchatka"],
    )
    evening = _ts("2026-12-01 20:30")  # 23:30 on 1 Dec in Moscow, 08:30 on 2 Dec in Kamchatka
    fired = _fire("birthday", {"customers": customers}, as_of=evening, catch_up_days=0)
    assert fired["customer_id"].tolist() == [1, 4]
    assert fired["firing_key"].tolist() == ["c1:birthday:1:2026", "c1:birthday:4:2026"]
    leap = _fire(
        "birthday", {"customers": customers}, as_of=_ts("2027-02-28 12:00"), catch_up_days=0
    )
    assert leap["customer_id"].tolist() == [3]
    late = _fire("birthday", {"customers": customers}, as_of=evening, catch_up_days=1)
    assert sorted(late["customer_id"]) == [1, 2, 4]


def test_no_purchase_fires_once_per_lapse() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 3],
            "ordered_at": [
                _ts("2026-07-01"),
                _ts("2026-01-01"),
                _ts("2026-11-20"),
                _ts("2026-03-01"),
            ],
            "status": ["paid", "paid", "paid", "cancelled"],
        }
    )
    fired = _fire("no_purchase", {"orders": orders}, days=120)
    # 1: 153 days since 1 July; 2 bought on 20 November; 3 never paid
    assert fired["firing_key"].tolist() == ["c1:no_purchase:1:after:2026-07-01"]


def test_repeat_purchase_from_the_customers_own_cadence() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2],
            "ordered_at": [
                *(_ts(d) for d in ("2026-09-01", "2026-10-01", "2026-10-31")),  # gap 30 days
                *(_ts(d) for d in ("2026-01-01", "2026-07-01")),  # gap 181 days
            ],
        }
    )
    fired = _fire("repeat_purchase", {"orders": orders}, cadence_factor=1.0)
    assert fired["customer_id"].tolist() == [1]  # 31 days since 31 Oct >= 30


def _deals() -> dict[str, pd.DataFrame]:
    return {
        "pipelines": pd.DataFrame({"pipeline_id": [1], "name": ["First sale"]}),
        "pipeline_stages": pd.DataFrame(
            {"stage_id": [10, 11], "pipeline_id": [1, 1], "name": ["Interest", "Booking"]}
        ),
        "deals": pd.DataFrame(
            {
                "deal_id": [100, 101, 102],
                "customer_id": [1, 2, 3],
                "stage_id": [11, 10, 11],
                "status": ["open", "open", "open"],
                "created_at": [_ts("2026-11-30"), _ts("2026-10-01"), _ts("2026-11-01")],
            }
        ),
        "activities": pd.DataFrame(
            {"deal_id": [102], "customer_id": [3], "occurred_at": [_ts("2026-11-28")]}
        ),
    }


def test_deal_reached_a_stage() -> None:
    fired = _fire("deal_stage", _deals(), stage="booking")
    assert fired["firing_key"].tolist() == [
        "c1:deal_stage:1:deal100:booking",
        "c1:deal_stage:3:deal102:booking",
    ]


def test_deal_stalled_in_a_stage() -> None:
    fired = _fire("deal_stalled", _deals(), stage="Booking", days=3)
    # deal 100 entered a day ago; deal 102 was last touched on 28 Nov: 3 days
    assert fired["event_ref"].tolist() == ["deal102:booking:2026-11-28"]


def test_lead_status_as_a_stage() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": [5, 6],
            "customer_id": [1, None],
            "status": ["verified", "verified"],
            "created_at": [_ts("2026-11-01"), _ts("2026-11-01")],
        }
    )
    fired = _fire("deal_stage", {"leads": leads}, stage="verified", pipeline="leads")
    assert fired["event_ref"].tolist() == ["lead5:verified"]


def test_segment_entered_and_left_within_the_window() -> None:
    members = pd.DataFrame(
        {
            "segment": ["vip", "vip", "vip", "other"],
            "customer_id": [1, 2, 3, 4],
            "entered_at": [
                _ts("2026-12-01 01:00"),
                _ts("2026-11-01"),
                _ts("2026-11-29"),
                _ts("2026-12-01"),
            ],
            "left_at": [pd.NaT, _ts("2026-11-30 23:00"), pd.NaT, pd.NaT],
        }
    )
    entered = _fire(
        "segment_entered", {"segment_memberships": members}, segment="vip", catch_up_days=0
    )
    assert entered["customer_id"].tolist() == [1]
    caught_up = _fire("segment_entered", {"segment_memberships": members}, segment="vip")
    assert caught_up["customer_id"].tolist() == [1, 3]
    left = _fire("segment_left", {"segment_memberships": members}, segment="vip", catch_up_days=0)
    assert left["event_ref"].tolist() == ["left:2026-11-30T23:00:00"]


def test_missing_contact_once_a_month() -> None:
    customers = _customers(first_name=["A", "B", "C"])
    points = pd.DataFrame(
        {"customer_id": [1, 2], "kind": ["email", "email"], "is_valid": [True, False]}
    )
    fired = _fire(
        "missing_contact", {"customers": customers, "contact_points": points}, field="email"
    )
    assert fired["firing_key"].tolist() == [
        "c1:missing_contact:2:email:2026-12",
        "c1:missing_contact:3:email:2026-12",
    ]


def test_points_about_to_expire() -> None:
    def entry(key: str, cid: int, points: int, expires: str | None, kind: str = "earn"):
        return {
            "idempotency_key": key,
            "customer_id": cid,
            "kind": kind,
            "points": points,
            "occurred_at": _ts("2026-01-01"),
            "available_at": _ts("2026-01-01"),
            "expires_at": _ts(expires) if expires else pd.NaT,
        }

    ledger = pd.DataFrame(
        [
            entry("a", 1, 300, "2026-12-10"),
            entry("b", 2, 300, "2026-12-10"),
            entry("c", 2, -300, None, kind="burn"),  # spent: nothing left to expire
            entry("d", 3, 300, "2027-03-01"),  # too far off
        ]
    )
    for col in ("reason", "rule", "operator", "source_kind", "source_id", "ref_key"):
        ledger[col] = None
    ledger["created_at"] = _ts("2026-01-01")
    fired = _fire("points_expiring", {"loyalty_ledger": ledger}, days=14)
    assert fired["firing_key"].tolist() == ["c1:points_expiring:1:2026-12-10"]


def test_tier_reached() -> None:
    history = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "tier": ["gold", "gold", "silver"],
            "direction": ["up", "down", "up"],
            "effective_at": [_ts("2026-11-30 21:00")] * 3,
        }
    )
    fired = _fire("tier_reached", {"loyalty_tier_history": history}, tier="Gold")
    assert fired["customer_id"].tolist() == [1]


def test_rerun_fires_nothing_new_and_a_late_run_catches_up_once() -> None:
    members = pd.DataFrame(
        {
            "segment": ["vip", "vip"],
            "customer_id": [1, 2],
            "entered_at": [_ts("2026-11-29 12:00"), _ts("2026-11-30 12:00")],
            "left_at": [pd.NaT, pd.NaT],
        }
    )
    tables = {"segment_memberships": members}
    night1 = _fire("segment_entered", tables, as_of=_ts("2026-11-29 23:00"), segment="vip")
    recorded = night1["firing_key"]
    again = new_firings(
        _fire("segment_entered", tables, as_of=_ts("2026-11-29 23:00"), segment="vip"), recorded
    )
    assert again.empty
    # the night of the 30th was missed; the run of 1 December catches customer 2 up, once
    late = new_firings(_fire("segment_entered", tables, segment="vip"), recorded)
    assert late["customer_id"].tolist() == [2]
