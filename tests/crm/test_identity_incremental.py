"""An incremental dedup (a later night): new and changed customers against the settled base."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from crm.identity import find_duplicates
from crm.identity.errors import IdentityError
from crm.identity.job import (
    PEOPLE_ROLES,
    DedupInputs,
    merged_inputs,
    next_keys,
    people_frame,
    plan_dedup,
)
from crm.identity.keys import Keys, prepare

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


def generated_inputs(customers: int, seed: int) -> DedupInputs:
    """A generated base (``crm.sample``) as the dedup job reads it, stored values as matched."""
    from crm import sample

    data = sample.generate(customers, seed=seed, orders_per_customer=0.1, events_per_customer=0.1)
    cols = ["customer_id", *COLUMNS, "created_at"]
    points = data["contact_points"][["contact_point_id", "customer_id", "kind", "value"]]
    points = points.assign(match_value=points["value"], is_primary=True)
    empty = inputs(BASE)
    return DedupInputs(data["customers"][cols], points, empty.deals, empty.cannot_link)


def field_strings(keys: Keys) -> dict[str, list[object]]:
    """Every field of ``keys`` as values per record (codes are numbering, not meaning)."""
    out: dict[str, list[object]] = {
        name: list(getattr(keys, name).strings())
        for name in ("first", "last", "middle", "gender", "postcode")
    }
    for name in ("phones", "emails", "locals_", "addresses"):
        for i, f in enumerate(getattr(keys, name)):
            out[f"{name}{i}"] = list(f.strings())
    out["birth"] = list(keys.birth.astype(str))
    out["generation"] = list(keys.generation)
    return out


def test_a_round_reusing_keys_equals_a_round_recomputing_them() -> None:
    # round 1 on a generated base of 3,000 records, then its merges applied
    start = generated_inputs(3_000, seed=5)
    people = people_frame(start.customers, start.points)
    plan = plan_dedup(start).rounds[0]
    merged = merged_inputs(start, plan)
    after = people_frame(merged.customers, merged.points)
    survivors = plan["survivor_id"].to_numpy()
    assert len(plan) > 100 and len(after) == len(people) - len(plan)
    # the survivors took contact points (a phone or mailbox their duplicate had)
    took = after.set_index("customer_id").loc[survivors, ["phone_2", "email_2"]].notna()
    assert took.to_numpy().any()
    ids = people["customer_id"].to_numpy()
    reused = next_keys(prepare(people, PEOPLE_ROLES), ids, after, survivors)
    fresh = prepare(after, PEOPLE_ROLES)
    assert field_strings(reused) == field_strings(fresh)
    # and the round's decisions are the same, pair by pair
    again = find_duplicates(after, PEOPLE_ROLES, id_col="customer_id", keys=reused)
    recomputed = find_duplicates(after, PEOPLE_ROLES, id_col="customer_id")
    cols = ["id_a", "id_b", "is_match", "different_people", "household"]
    pd.testing.assert_frame_equal(again.pairs[cols], recomputed.pairs[cols])
    np.testing.assert_allclose(again.pairs["score"], recomputed.pairs["score"], rtol=1e-6)
    pd.testing.assert_frame_equal(
        again.clusters.drop(columns="confidence"), recomputed.clusters.drop(columns="confidence")
    )
    assert again.stats["matched_pairs"] > 0


def test_keys_of_another_frame_are_refused() -> None:
    people = people_frame(inputs(BASE).customers, inputs(BASE).points)
    keys = prepare(people.iloc[:3], PEOPLE_ROLES)
    with pytest.raises(IdentityError, match="keys of 3 records for a frame of 5 rows"):
        find_duplicates(people, PEOPLE_ROLES, id_col="customer_id", keys=keys)
    with pytest.raises(IdentityError, match="records of the round before"):
        next_keys(keys, np.array([1, 2, 3]), people, np.array([1]))


def test_name_folds_are_kept_per_vocabulary_and_never_stale() -> None:
    from crm.identity.names import equivalent, fold_codes

    first = np.array(["iurii", "yuriy", "pavel", "pasha", "bill", "william"], dtype=object)
    pairs = (np.array([0, 2, 4, 0]), np.array([1, 3, 5, 2]))
    assert equivalent(first, *pairs).tolist() == [True, True, True, False]
    # another vocabulary, then the first again: each gets its own answer
    other = np.array(["william", "iurii"], dtype=object)
    assert equivalent(other, np.array([0]), np.array([1])).tolist() == [False]
    assert fold_codes(other).tolist() == [0, 1]
    assert fold_codes(first).tolist() == [0, 0, 1, 2, 3, 4]
    assert equivalent(first, *pairs).tolist() == [True, True, True, False]
