"""Pairs dedup cannot settle are left for review, and a person's decision sticks (both databases).

Two cards of one name at one home, one without a birth date, each with its own mailbox:
one person who once left the date out and gave another mailbox, or a parent and an adult
child of one name. ``crm dedup`` neither merges them nor calls them a household; it
records them as ``maybe_same`` and ``crm dedup --review`` lists them, ``--merge`` and
``--apart`` decide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest
from typer.testing import CliRunner

from crm import store
from crm.identity import IdentityError
from crm.identity.database import decide_pair, dedup, maybe_same_pairs, undo_merge
from crm.settings import get_settings
from flows.cli import app
from flows.cli._common import console

UTC = dt.UTC
AS_OF = dt.datetime(2026, 11, 1, tzinfo=UTC)
LATER = dt.datetime(2026, 11, 2, tzinfo=UTC)


def load_households(url: str) -> None:
    """Павел Громов and his undated namesake (1, 2); Sharon Evans and hers (3, 4); Olga (5)."""
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "first_name": ["Павел", "Павел", "Sharon", "Sharon", "Ольга"],
            "last_name": ["Громов", "Громов", "Evans", "Evans", "Кузнецова"],
            "gender": ["m", "m", "f", "f", "f"],
            "birth_date": [dt.date(1961, 4, 12), None, dt.date(1964, 3, 22), None, None],
            "address": ["ул. Садовая, д. 102, кв. 54"] * 2
            + ["148 Victoria Road, flat 60"] * 2
            + ["Невский пр., д. 20, кв. 3"],
            "postcode": ["407545", "407545", "EC1A 7AB", "EC1A 7AB", "191186"],
            "created_at": [dt.datetime(2019 + i, 1, 1, tzinfo=UTC) for i in range(5)],
        }
    )
    store.write_frame(url, customers, "customers")
    points = pd.DataFrame(
        {
            "contact_point_id": [1, 2, 3, 4, 5, 6, 7],
            "customer_id": [1, 1, 2, 2, 3, 4, 5],
            "kind": ["phone", "email", "phone", "email", "email", "email", "email"],
            "value": [
                "+79934770081",
                "p.gromov61@mail.ru",
                "8 993 477-00-81",  # the home phone, written otherwise
                "pasha.gromov@yandex.ru",  # a mailbox of his own
                "sharonevans@icloud.com",
                "sharon.e@hotmail.co.uk",
                "olga.k@yandex.ru",
            ],
            "is_primary": True,
            "created_at": dt.datetime(2022, 1, 1, tzinfo=UTC),
        }
    )
    store.write_frame(url, points, "contact_points")


def _relations(url: str) -> list[tuple[int, int, str, str]]:
    frame = store.read_frame(
        url, "SELECT customer_id, related_customer_id, kind, source FROM relations"
    )
    return sorted(tuple(r) for r in frame.itertuples(index=False))  # type: ignore[misc]


def _active(url: str) -> list[int]:
    frame = store.read_frame(url, "SELECT customer_id FROM customers WHERE status = 'active'")
    return sorted(frame["customer_id"].tolist())


def test_an_undated_namesake_at_one_home_is_left_for_review_not_merged_nor_a_household(
    db_url: str,
) -> None:
    load_households(db_url)
    run = dedup(db_url, AS_OF)
    assert run.merged == 0 and _active(db_url) == [1, 2, 3, 4, 5]
    assert _relations(db_url) == [(1, 2, "maybe_same", "dedup"), (3, 4, "maybe_same", "dedup")]
    assert run.maybe_same_added == 2
    again = dedup(db_url, LATER)
    assert again.merged == 0 and again.maybe_same_added == 0 and again.households_added == 0
    listed = maybe_same_pairs(db_url)
    assert listed[["customer_id", "related_customer_id"]].values.tolist() == [[1, 2], [3, 4]]
    row = listed.iloc[0]
    assert (row["first_name_a"], row["last_name_b"]) == ("Павел", "Громов")
    assert (row["email_a"], row["email_b"]) == ("p.gromov61@mail.ru", "pasha.gromov@yandex.ru")


def test_a_pair_decided_apart_is_a_household_never_merged_nor_asked_again(db_url: str) -> None:
    load_households(db_url)
    dedup(db_url, AS_OF)
    done = decide_pair(db_url, 2, 1, same=False, as_of=LATER, run_id="review")
    assert done.empty
    assert (1, 2, "household", "review") in _relations(db_url)
    assert (1, 2, "maybe_same", "dedup") not in _relations(db_url)
    rerun = dedup(db_url, LATER)
    assert rerun.maybe_same_added == 0 and rerun.merged == 0
    assert maybe_same_pairs(db_url)["customer_id"].tolist() == [3]
    assert (1, 2, "maybe_same", "dedup") not in _relations(db_url)


def test_a_pair_decided_one_person_is_merged_by_the_survivor_rule_and_can_be_undone(
    db_url: str,
) -> None:
    load_households(db_url)
    dedup(db_url, AS_OF)
    done = decide_pair(db_url, 4, 3, same=True, as_of=LATER, run_id="review")
    assert done[["survivor_id", "merged_id"]].values.tolist() == [[3, 4]]  # the older record
    assert _active(db_url) == [1, 2, 3, 5]
    assert maybe_same_pairs(db_url)["customer_id"].tolist() == [1]
    undo_merge(db_url, int(done["merge_id"].iloc[0]), run_id="undo", as_of=LATER)
    assert _active(db_url) == [1, 2, 3, 4, 5]


def test_a_decision_on_a_missing_or_merged_customer_is_refused(db_url: str) -> None:
    load_households(db_url)
    with pytest.raises(IdentityError, match="customer 9 does not exist"):
        decide_pair(db_url, 1, 9, same=True, as_of=LATER, run_id="review")
    decide_pair(db_url, 3, 4, same=True, as_of=LATER, run_id="review")
    with pytest.raises(IdentityError, match="customer 4 is not active"):
        decide_pair(db_url, 3, 4, same=False, as_of=LATER, run_id="review")


@pytest.fixture
def cli_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CRM_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    yield sqlite_url
    get_settings.cache_clear()


def test_crm_dedup_review_lists_the_pairs_and_merge_and_apart_decide(
    cli_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    load_households(cli_db)
    first = runner.invoke(app, ["dedup"])
    assert first.exit_code == 0, first.output
    assert "2 pairs left for review" in " ".join(first.output.split())
    # the table folds long cells at the console's width, which CI's terminal sets
    monkeypatch.setattr(console, "_width", 160)
    shown = runner.invoke(app, ["dedup", "--review"])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "2 pairs to review" in text and "Громов" in text and "sharon.e@hotmail.co.uk" in text
    assert all(f"│ {i} " in shown.output for i in (1, 2, 3, 4))
    apart = runner.invoke(app, ["dedup", "--apart", "1", "2"])
    assert apart.exit_code == 0 and "two people of one home" in apart.output
    merged = runner.invoke(app, ["dedup", "--merge", "3", "4"])
    assert merged.exit_code == 0 and "4 merged into 3" in merged.output
    assert "0 pairs to review" in runner.invoke(app, ["dedup", "--review"]).output
    refused = runner.invoke(app, ["dedup", "--merge", "3", "4"])
    assert refused.exit_code != 0 and "customer 4 is not active" in refused.output


def test_a_pair_under_review_that_the_data_now_tells_apart_is_settled(db_url: str) -> None:
    # the son's card gets his own birth date: father and son are two people of one home
    load_households(db_url)
    dedup(db_url, AS_OF)
    store.execute(
        db_url, "UPDATE customers SET birth_date = ? WHERE customer_id = 2", [dt.date(1990, 5, 1)]
    )
    dedup(db_url, LATER)
    relations = _relations(db_url)
    assert (1, 2, "household", "dedup") in relations
    assert (1, 2, "maybe_same", "dedup") not in relations
    assert maybe_same_pairs(db_url)["customer_id"].tolist() == [3]
