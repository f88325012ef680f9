"""An incremental dedup (a later night): new and changed customers against the settled base."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from crm.identity.job import DedupInputs, merged_inputs, plan_dedup

UTC = dt.UTC

# a settled base: four people and a wife (a household, never a merge)
BASE = [
    dict(
        first_name="Пётр",
        last_name="Сёмин",
        middle_name="Олегович",
        birth_date=dt.date(1980, 3, 14),
        address="ул. Ленина, д. 5, кв. 12",
        postcode="630099",
        phone="+79161234567",
        email="p.semin@mail.ru",
    ),
    dict(
        first_name="Ольга",
        last_name="Кузнецова",
        middle_name="Игоревна",
        birth_date=dt.date(1975, 7, 1),
        address="Невский пр., д. 20, кв. 3",
        postcode="191186",
        phone="+79217654321",
        email="olga.k@yandex.ru",
    ),
    dict(
        first_name="John",
        last_name="Smith",
        birth_date=dt.date(1990, 1, 31),
        address="12 Park Road, flat 4",
        postcode="SW1A 1AA",
        phone="+447700900123",
        email="john.smith@gmail.com",
    ),
    dict(
        first_name="Мария",
        last_name="Волкова",
        birth_date=dt.date(1988, 11, 23),
        address="ул. Мира, д. 7, кв. 70",
        postcode="420111",
        phone="+79031112233",
        email="maria.volkova@bk.ru",
    ),
    dict(
        first_name="Анна",
        last_name="Сёмина",
        middle_name="Викторовна",
        birth_date=dt.date(1982, 5, 2),
        address="ул. Ленина, д. 5, кв. 12",
        postcode="630099",
        phone="+79161234567",
    ),
]
# tonight's new customers (ids 6-11)
NEW = [
    dict(first_name="Петя", last_name="Семин", postcode="630099", phone="8 916 123-45-67"),
    dict(
        first_name="Johnny",
        last_name="SMITH",
        birth_date=dt.date(1990, 1, 31),
        email="JOHN.SMITH@gmail.com",
    ),
    dict(
        first_name="Елена",
        last_name="Орлова",
        birth_date=dt.date(1993, 9, 9),
        phone="+79265550011",
        email="e.orlova@list.ru",
    ),
    dict(
        first_name="Лена", last_name="Орлова", birth_date=dt.date(1993, 9, 9), phone="89265550011"
    ),
    dict(
        first_name="Сергей",
        last_name="Волков",
        birth_date=dt.date(1986, 2, 17),
        address="ул. Мира, д. 7, кв. 70",
        postcode="420111",
        phone="+79031112233",
    ),
    dict(first_name="Emily", last_name="Clarke", email="emily.clarke@outlook.com"),
]


COLUMNS = ("first_name", "last_name", "middle_name", "gender", "birth_date", "address", "postcode")


def inputs(rows: list[dict[str, object]], changed: list[int] | None = None) -> DedupInputs:
    """Customers 1..n created a day apart, each with its phone and email as contact points."""
    frame = pd.DataFrame(rows)
    n = len(frame)
    ids = np.arange(1, n + 1)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            **{c: frame.get(c) for c in COLUMNS},
            "created_at": [
                dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(days=int(i)) for i in ids
            ],
        }
    )
    points = (
        frame[["phone", "email"]]
        .assign(customer_id=ids)
        .melt(id_vars="customer_id", var_name="kind", value_name="value")
        .dropna(subset=["value"])
        .sort_values(["customer_id", "kind"], ignore_index=True)
    )
    points.insert(0, "contact_point_id", np.arange(1, len(points) + 1))
    points["match_value"] = points["value"]
    points["is_primary"] = True
    deals = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="int64"),
            "status": [],
            "created_at": [],
            "closed_at": [],
        }
    )
    links = pd.DataFrame(
        {"id_a": pd.Series([], dtype="int64"), "id_b": pd.Series([], dtype="int64")}
    )
    return DedupInputs(
        customers,
        points,
        deals,
        links,
        changed=None if changed is None else np.asarray(changed, dtype=np.int64),
    )


def decisions(plan: object) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    merges = plan.merges  # type: ignore[attr-defined]
    links = plan.households  # type: ignore[attr-defined]
    return (
        set(zip(merges["survivor_id"], merges["merged_id"], strict=True)),
        set(zip(links["customer_id"], links["related_customer_id"], strict=True)),
    )


def test_the_base_is_settled() -> None:
    merges, links = decisions(plan_dedup(inputs(BASE)))
    assert merges == set()
    assert links == {(1, 5)}


def test_an_incremental_run_decides_for_the_new_records_what_the_full_run_decides() -> None:
    full_merges, full_links = decisions(plan_dedup(inputs([*BASE, *NEW])))
    # by hand: Петя is Пётр (1), Johnny is John (3), Лена is Елена (8 and 9 are new twice);
    # Сергей is Мария's husband (a link); Emily is nobody else
    assert {(s, m) for s, m in full_merges if m > 5} == {(1, 6), (3, 7), (8, 9)}
    inc = plan_dedup(inputs([*BASE, *NEW], changed=[6, 7, 8, 9, 10, 11]))
    inc_merges, inc_links = decisions(inc)
    assert inc_merges == {(s, m) for s, m in full_merges if s > 5 or m > 5}
    new_links = {(a, b) for a, b in inc_links if a > 5 or b > 5}
    assert new_links == {(a, b) for a, b in full_links if a > 5 or b > 5} == {(4, 10)}
    # a survivor took new contact points, so its own links are looked at again (upserted)
    assert inc_links <= full_links
    # only pairs with a new record were scored
    pairs = inc.result.pairs
    assert ((pairs["id_a"] > 5) | (pairs["id_b"] > 5)).all()
    assert inc.stats["changed"] == 6


def test_an_incremental_run_is_closed_under_its_rule() -> None:
    first = inputs([*BASE, *NEW], changed=[6, 7, 8, 9, 10, 11])
    plan = plan_dedup(first)
    after = merged_inputs(first, plan.merges)
    # the next night: the survivors took new contact points, nothing else changed
    survivors = np.unique(plan.merges["survivor_id"].to_numpy())
    again = DedupInputs(after.customers, after.points, after.deals, after.cannot_link, survivors)
    assert plan_dedup(again).merges.empty
    assert plan_dedup(
        DedupInputs(after.customers, after.points, after.deals, after.cannot_link)
    ).merges.empty
