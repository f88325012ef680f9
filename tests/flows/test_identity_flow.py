"""Dedup on the database (SQLite and PostgreSQL): merges, survivor rule, undo, rerun, households."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from crm import store
from crm.identity import MergeNotFoundError, MergeStateError
from crm.identity.database import dedup, load_inputs, undo_merge
from flows.identity import dedup_flow

UTC = dt.UTC
AS_OF = dt.datetime(2026, 11, 1, tzinfo=UTC)


def _t(year: int, month: int = 1) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=UTC)


def load_base(url: str) -> None:
    """Ivan Petrov three times (ids 1, 2, 3), his wife Anna (4), an unrelated Olga (5)."""
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "first_name": ["Иван", "ИВАН", "Иван", "Анна", "Ольга"],
            "last_name": ["Петров", "Петров", "Петрв", "Петрова", "Кузнецова"],
            "middle_name": ["Сергеевич", None, None, "Олеговна", "Игоревна"],
            "gender": ["m", None, "m", "f", "f"],
            "birth_date": [
                dt.date(1980, 3, 14),
                None,
                dt.date(1980, 3, 14),
                dt.date(1983, 6, 2),
                None,
            ],
            "address": ["ул. Ленина, д. 5, кв. 12"] * 4 + ["Невский пр., д. 20, кв. 3"],
            "postcode": ["630099"] * 4 + ["191186"],
            "created_at": [_t(2019), _t(2021), _t(2022), _t(2020), _t(2018)],
        }
    )
    store.write_frame(url, customers, "customers")
    points = pd.DataFrame(
        {
            "contact_point_id": [1, 2, 3, 4, 5, 6, 7],
            "customer_id": [1, 1, 2, 3, 3, 4, 5],
            "kind": ["phone", "email", "phone", "phone", "email", "phone", "email"],
            "value": [
                "+79161234567",
                "ivan.petrov@mail.ru",
                "8 (916) 123-45-67",
                "+7 916 123 45 67",
                "ivan.petrov@mail.ru",
                "+79161234567",  # the shared home phone
                "olga.k@yandex.ru",
            ],
            "is_primary": True,
            "created_at": _t(2022),
        }
    )
    store.write_frame(url, points, "contact_points")
    deals = pd.DataFrame(
        {
            "deal_id": [1, 2, 3],
            "customer_id": [1, 2, 3],
            "status": ["won", "won", "lost"],
            "amount": [100.0, 200.0, 50.0],
            "created_at": [_t(2022), _t(2021), _t(2020)],
            "closed_at": [_t(2022, 6), _t(2021, 6), _t(2020, 6)],  # 2 holds the older won deal
        }
    )
    store.write_frame(url, deals, "deals")
    orders = pd.DataFrame(
        {
            "order_id": [10, 11, 12, 13, 14],
            "customer_id": [1, 2, 3, 3, 4],
            "ordered_at": [_t(2023), _t(2023, 2), _t(2023, 3), _t(2023, 4), _t(2023, 5)],
            "amount": [10.0, 20.0, 30.0, 40.0, 50.0],
        }
    )
    store.write_frame(url, orders, "orders")
    consents = pd.DataFrame(
        {
            "consent_id": [1, 2],
            "customer_id": [3, 4],
            "channel": ["email", "sms"],
            "granted": [True, True],
            "source": "site_form",
            "recorded_at": _t(2023),
        }
    )
    store.write_frame(url, consents, "consents")


def _owners(url: str, table: str, key: str) -> dict[int, int]:
    frame = store.read_frame(url, f"SELECT {key}, customer_id FROM {table}")
    return dict(zip(frame[key].tolist(), frame["customer_id"].tolist(), strict=True))


def _state(url: str) -> dict[str, object]:
    cust = store.read_frame(url, "SELECT customer_id, status, merged_into FROM customers")
    return {
        "customers": cust.sort_values("customer_id").astype(object).values.tolist(),
        "orders": _owners(url, "orders", "order_id"),
        "points": _owners(url, "contact_points", "contact_point_id"),
        "relations": store.read_frame(
            url, "SELECT customer_id, related_customer_id, kind FROM relations"
        ).values.tolist(),
        "log": len(store.read_frame(url, "SELECT entry_id FROM merge_log")),
    }


def test_dedup_merges_into_the_older_won_deal_and_links_the_household(db_url: str) -> None:
    load_base(db_url)
    run = dedup(db_url, AS_OF, run_id="t1")
    assert run.plan[["survivor_id", "merged_id"]].values.tolist() == [[2, 1], [2, 3]]
    cust = store.read_frame(db_url, "customers").set_index("customer_id")
    assert cust.loc[[1, 3], "status"].tolist() == ["duplicate", "duplicate"]
    assert cust.loc[[1, 3], "merged_into"].tolist() == [2, 2]
    assert cust.loc[[2, 4, 5], "status"].tolist() == ["active"] * 3
    # the history moved to the survivor; the wife's order stayed hers
    assert _owners(db_url, "orders", "order_id") == {10: 2, 11: 2, 12: 2, 13: 2, 14: 4}
    assert set(_owners(db_url, "deals", "deal_id").values()) == {2}
    assert _owners(db_url, "consents", "consent_id") == {1: 2, 2: 4}
    # contact points: 1's email moved, 3's copy of the same email stayed behind (unique per person)
    assert _owners(db_url, "contact_points", "contact_point_id") == {
        1: 2,
        2: 2,
        3: 2,
        4: 2,
        5: 3,
        6: 4,
        7: 5,
    }
    rel = store.read_frame(db_url, "SELECT customer_id, related_customer_id, kind FROM relations")
    assert rel.values.tolist() == [[2, 4, "household"]]
    log = store.read_frame(db_url, "merge_log").sort_values("merge_id")
    assert log[["merge_id", "action", "survivor_id", "merged_id"]].values.tolist() == [
        [1, "merge", 2, 1],
        [2, "merge", 2, 3],
    ]
    assert (log["score"] >= 0.5).all() and (log["run_id"] == "t1").all()
    moves = store.read_frame(db_url, "merge_moves")
    # orders 10, 12, 13; deals 1, 3; consent 1; contact points 1, 2, 4
    assert len(moves) == run.moved_rows == 9


def test_rerun_changes_nothing(db_url: str) -> None:
    load_base(db_url)
    dedup(db_url, AS_OF, run_id="t1")
    before = _state(db_url)
    again = dedup(db_url, AS_OF, run_id="t2")
    assert (again.merged, again.households_added, len(again.plan)) == (0, 0, 0)
    assert _state(db_url) == before


def test_dry_run_writes_nothing(db_url: str) -> None:
    load_base(db_url)
    before = _state(db_url)
    run = dedup(db_url, AS_OF, dry_run=True)
    assert len(run.plan) == 2 and len(run.households) == 1
    assert _state(db_url) == before


def test_undo_gives_every_row_back_and_is_not_redone(db_url: str) -> None:
    load_base(db_url)
    before = _state(db_url)
    dedup(db_url, AS_OF, run_id="t1")
    given = undo_merge(db_url, 2, run_id="u1", as_of=AS_OF)  # 3 merged into 2
    assert given == 5  # orders 12 and 13, deal 3, consent 1, contact point 4
    cust = store.read_frame(db_url, "customers").set_index("customer_id")
    assert cust.loc[3, "status"] == "active" and pd.isna(cust.loc[3, "merged_into"])
    assert _owners(db_url, "orders", "order_id") == {10: 2, 11: 2, 12: 3, 13: 3, 14: 4}
    assert _owners(db_url, "deals", "deal_id") == {1: 2, 2: 2, 3: 3}
    points = _owners(db_url, "contact_points", "contact_point_id")
    assert (points[4], points[5]) == (3, 3)
    log = store.read_frame(db_url, "merge_log")
    assert log[["merge_id", "action"]].values.tolist()[-1] == [2, "undo"]
    with pytest.raises(MergeStateError, match="already undone"):
        undo_merge(db_url, 2, run_id="u2", as_of=AS_OF)
    with pytest.raises(MergeNotFoundError):
        undo_merge(db_url, 99, run_id="u3", as_of=AS_OF)
    # a later run respects the undo
    assert dedup(db_url, AS_OF, run_id="t3").merged == 0
    undo_merge(db_url, 1, run_id="u4", as_of=AS_OF)
    after = _state(db_url)
    assert after["customers"] == before["customers"]
    assert after["orders"] == before["orders"] and after["points"] == before["points"]


def test_flow_runs_and_reruns(db_url: str, prefect_harness: None) -> None:
    load_base(db_url)
    dry = dedup_flow(url=db_url, dry_run=True)
    assert dry["to_merge"] == 2 and dry["merged"] == 0
    first = dedup_flow(url=db_url)
    assert (first["merged"], first["households_added"]) == (2, 1)
    second = dedup_flow(url=db_url)
    assert (second["merged"], second["households_added"], second["to_merge"]) == (0, 0, 0)


def test_right_after_a_merge_run_a_dry_run_proposes_nothing(sqlite_url: str) -> None:
    # the demo-sized base (10k customers, the generator's duplicates and households)
    from crm import sample

    data = sample.generate(10_000, seed=3, orders_per_customer=0.2, events_per_customer=0.2)
    sample.load(sqlite_url, data)
    first = dedup(sqlite_url, AS_OF, run_id="first")
    assert first.merged > 300  # about 6% of the generated records are duplicates
    assert first.households_added > 100
    again = dedup(sqlite_url, AS_OF, dry_run=True)
    assert len(again.plan) == 0, again.plan.head()
    assert len(again.households) == first.households_added  # the same links, none new
    rerun = dedup(sqlite_url, AS_OF, run_id="second")
    assert (rerun.merged, rerun.households_added) == (0, 0)


def test_threshold_is_checked_by_the_one_job_both_callers_share(sqlite_url: str) -> None:
    from crm.identity import IdentityError

    load_base(sqlite_url)
    with pytest.raises(IdentityError, match=r"threshold must be in \(0, 1\], not 1.5"):
        dedup(sqlite_url, AS_OF, threshold=1.5)


def test_a_later_night_matches_only_the_new_customers_against_the_base(db_url: str) -> None:
    load_base(db_url)
    dedup(db_url, AS_OF, run_id="night-1")
    tonight = dt.datetime(2026, 11, 2, tzinfo=UTC)
    # Иван registers again (6), a new Emily twice (7, 8); Olga (5) gets a phone tonight
    new = pd.DataFrame(
        {
            "customer_id": [6, 7, 8],
            "first_name": ["Ваня", "Emily", "Emily"],
            "last_name": ["Петров", "Clarke", "Clarke"],
            "birth_date": [dt.date(1980, 3, 14), dt.date(1995, 4, 2), dt.date(1995, 4, 2)],
            "postcode": ["630099", "EC1A 1BB", "EC1A 1BB"],
            "created_at": [tonight] * 3,
        }
    )
    store.write_frame(db_url, new, "customers")
    points = pd.DataFrame(
        {
            "contact_point_id": [8, 9, 10, 11],
            "customer_id": [6, 7, 8, 5],
            "kind": ["phone", "email", "email", "phone"],
            "value": [
                "8 916 123 45 67",
                "emily.c@outlook.com",
                "EMILY.C@outlook.com",
                "+79217654321",
            ],
            "is_primary": True,
            "created_at": [tonight] * 4,
        }
    )
    store.write_frame(db_url, points, "contact_points")
    since = dt.datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert load_inputs(db_url, since).changed.tolist() == [5, 6, 7, 8]  # type: ignore[union-attr]
    full = dedup(db_url, tonight, dry_run=True)
    later = dedup(db_url, tonight, dry_run=True, since=since)
    cols = ["survivor_id", "merged_id"]
    assert later.plan[cols].values.tolist() == full.plan[cols].values.tolist() == [[2, 6], [7, 8]]
    assert later.stats["changed"] == 4
    ran = dedup(db_url, tonight, run_id="night-2", since=since)
    assert ran.merged == 2
    assert len(dedup(db_url, tonight, dry_run=True, since=since).plan) == 0


def test_what_the_previous_night_stamped_with_its_own_instant_is_not_changed(db_url: str) -> None:
    # the previous night (as_of = since) cleaned the base: its hygiene stamped the records it
    # rewrote with that instant, and its dedup ran after and saw them. Only later stamps count.
    load_base(db_url)
    night_1 = dt.datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    stamp = "UPDATE customers SET updated_at = ? WHERE customer_id IN ({})"
    store.execute(db_url, stamp.format("1, 3"), [store.instant_param(db_url, night_1)])
    after = night_1 + dt.timedelta(microseconds=1)
    store.execute(db_url, stamp.format("4"), [store.instant_param(db_url, after)])
    assert load_inputs(db_url, night_1).changed.tolist() == [4]  # type: ignore[union-attr]
    assert load_inputs(db_url, night_1 - dt.timedelta(seconds=1)).changed.tolist() == [1, 3, 4]  # type: ignore[union-attr]
