"""The bulk-append path of ``crm.store.write_frame`` (indexes rebuilt, foreign keys checked set-wise).

``BULK_ROWS`` is lowered so a few hand-built rows take the path big loads take.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import inspect

from crm import store
from crm.db import make_engine
from crm.errors import StoreError

T = pd.Timestamp("2024-05-01 10:00", tz="UTC")


@pytest.fixture(autouse=True)
def small_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "BULK_ROWS", 3)


def _customers(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": range(1, n + 1),
            "external_id": [f"C{i}" for i in range(1, n + 1)],
            "created_at": T,
        }
    )


def _orders(ids: list[int], customers: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": ids,
            "external_id": [f"O{i}" for i in ids],
            "customer_id": customers,
            "ordered_at": [T + pd.Timedelta(days=i) for i in ids],
            "amount": [10.0 * i for i in ids],
        }
    )


def _order_indexes(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        indexes = {ix["name"]: list(ix["column_names"]) for ix in insp.get_indexes("orders")}
        fks = [fk["referred_table"] for fk in insp.get_foreign_keys("orders")]
    finally:
        engine.dispose()
    return {**indexes, "foreign keys": sorted(fks)}


def test_bulk_append_lands_every_row_and_keeps_the_schema(db_url: str) -> None:
    before = _order_indexes(db_url)
    assert before["ix_orders_customer_id_ordered_at"] == ["customer_id", "ordered_at"]
    store.write_frame(db_url, _customers(3), "customers")
    result = store.write_frame(db_url, _orders([1, 2, 3, 4], [3, 1, 2, 1]), "orders")
    assert result.inserted == 4
    got = store.read_frame(db_url, "orders").sort_values("order_id")
    assert got["customer_id"].tolist() == [3, 1, 2, 1]
    assert got["amount"].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert _order_indexes(db_url) == before  # the index and foreign keys are back
    # a second, smaller append into the now bigger table takes the same path minus the rebuild
    store.write_frame(db_url, _orders([5, 6, 7], [2, 2, 3]), "orders")
    assert len(store.read_frame(db_url, "orders")) == 7
    assert _order_indexes(db_url) == before


def test_bulk_append_refuses_orphans_and_leaves_nothing(db_url: str) -> None:
    store.write_frame(db_url, _customers(2), "customers")
    before = _order_indexes(db_url)
    orphans = _orders([1, 2, 3, 4], [1, 7, 2, 9])  # customers 7 and 9 do not exist
    with pytest.raises(Exception) as info:  # StoreError on SQLite, the driver's error on PostgreSQL
        store.write_frame(db_url, orphans, "orders")
    if db_url.startswith("sqlite"):
        assert isinstance(info.value, StoreError)
        assert (
            "orders.customer_id: 2 value(s) not found in customers.customer_id (e.g. 7, 9)"
            in str(info.value)
        )
    else:
        assert "fk_orders_customer_id_customers" in str(info.value)
    assert len(store.read_frame(db_url, "orders")) == 0
    assert _order_indexes(db_url) == before  # rolled back with the rows


def test_bulk_append_still_enforces_unique_keys(db_url: str) -> None:
    store.write_frame(db_url, _customers(2), "customers")
    twice = _orders([1, 2, 3, 4], [1, 1, 2, 2]).assign(external_id=["O1", "O2", "O2", "O4"])
    with pytest.raises(Exception, match=r"external_id|uq_orders_external_id"):
        store.write_frame(db_url, twice, "orders")
    assert len(store.read_frame(db_url, "orders")) == 0


def test_self_reference_may_point_into_the_same_write(db_url: str) -> None:
    # customers.merged_into refers to customers: a duplicate written with its survivor is fine
    frame = _customers(4).assign(merged_into=[None, 1, None, 3])
    frame["merged_into"] = frame["merged_into"].astype("Int64")
    assert store.write_frame(db_url, frame, "customers").inserted == 4
    bad = _customers(8).iloc[4:].assign(merged_into=[None, 99, None, None])
    bad["merged_into"] = bad["merged_into"].astype("Int64")
    with pytest.raises(Exception, match=r"99|fk_customers_merged_into_customers"):
        store.write_frame(db_url, bad, "customers")
    assert len(store.read_frame(db_url, "customers")) == 4


def test_parts_append_as_one_bulk_write(db_url: str) -> None:
    # each part is made only when the one before is ingested, and the indexes are rebuilt
    # once, after the last: the stream lands as one write
    before = _order_indexes(db_url)
    store.write_frame(db_url, _customers(3), "customers")
    made: list[int] = []

    def parts():
        for first in (1, 3, 5):
            made.append(first)
            yield _orders([first, first + 1], [first % 3 + 1, 2])
        yield _orders([], [])  # an empty part adds nothing

    result = store.append_parts(db_url, parts(), "orders", rows=6)
    assert result.inserted == 6 and made == [1, 3, 5]
    got = store.read_frame(db_url, "orders").sort_values("order_id")
    assert got["order_id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert got["customer_id"].tolist() == [2, 2, 1, 2, 3, 2]
    assert _order_indexes(db_url) == before


def test_a_key_repeated_across_parts_refuses_every_part(db_url: str) -> None:
    store.write_frame(db_url, _customers(2), "customers")
    first = _orders([1, 2], [1, 2])
    second = _orders([3, 4], [1, 2]).assign(external_id=["O3", "O1"])  # O1 is the first part's
    with pytest.raises(Exception, match=r"external_id|uq_orders_external_id"):
        store.append_parts(db_url, iter([first, second]), "orders", rows=4)
    assert len(store.read_frame(db_url, "orders")) == 0


def test_an_orphan_in_a_later_part_refuses_every_part(db_url: str) -> None:
    store.write_frame(db_url, _customers(2), "customers")
    before = _order_indexes(db_url)
    parts = iter([_orders([1, 2], [1, 2]), _orders([3, 4], [2, 9])])  # customer 9: none
    with pytest.raises(Exception) as info:
        store.append_parts(db_url, parts, "orders", rows=4)
    if db_url.startswith("sqlite"):
        assert "orders.customer_id: 1 value(s) not found in customers.customer_id (e.g. 9)" in str(
            info.value
        )
    assert len(store.read_frame(db_url, "orders")) == 0
    assert _order_indexes(db_url) == before


def test_a_failing_part_maker_rolls_back_the_parts_before_it(db_url: str) -> None:
    store.write_frame(db_url, _customers(2), "customers")

    def parts():
        yield _orders([1, 2], [1, 2])
        raise RuntimeError("planning part 2 failed")

    with pytest.raises(RuntimeError, match="part 2"):
        store.append_parts(db_url, parts(), "orders", rows=4)
    assert len(store.read_frame(db_url, "orders")) == 0
