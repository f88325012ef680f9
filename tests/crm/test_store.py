import datetime as dt

import pandas as pd
import pytest

from crm import store
from crm.errors import StoreError

NOW = pd.Timestamp("2024-05-01 10:11:12.5", tz="UTC")


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "external_id": ["C1", "C2"],
            "first_name": ["Иван", "Jane"],
            "lifecycle_stage": ["customer", "lead"],
            "status": ["active", "active"],
            "is_loyalty_member": [True, False],
            "created_at": [NOW, NOW],
            "birth_date": [dt.date(1990, 1, 2), None],
        }
    )


def test_round_trip_keeps_types(db_url: str) -> None:
    assert store.write_frame(db_url, _customers(), "customers").inserted == 2
    got = store.read_frame(db_url, "customers").sort_values("external_id").reset_index(drop=True)
    assert list(got["first_name"]) == ["Иван", "Jane"]
    assert str(got["created_at"].dtype) == "datetime64[us, UTC]"
    assert got.loc[0, "created_at"] == NOW
    assert got.loc[0, "birth_date"] == dt.date(1990, 1, 2)
    assert pd.isna(got.loc[1, "birth_date"])
    assert list(got["is_loyalty_member"]) == [True, False]


def test_upsert_counts_and_is_idempotent(db_url: str) -> None:
    store.write_frame(db_url, _customers(), "customers", mode="upsert", key=["external_id"])
    changed = _customers().assign(first_name=["Иван", "Janet"])
    changed.loc[2] = ["C3", "Пётр", "lead", "active", False, NOW, None]
    first = store.write_frame(db_url, changed, "customers", mode="upsert", key=["external_id"])
    assert (first.inserted, first.updated, first.unchanged) == (1, 1, 1)
    again = store.write_frame(db_url, changed, "customers", mode="upsert", key=["external_id"])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    got = store.read_frame(db_url, "customers", columns=["external_id", "first_name"])
    assert dict(zip(got.external_id, got.first_name, strict=True)) == {
        "C1": "Иван",
        "C2": "Janet",
        "C3": "Пётр",
    }


def test_query_with_params(db_url: str) -> None:
    store.write_frame(db_url, _customers(), "customers")
    got = store.read_frame(
        db_url,
        "SELECT external_id, created_at AS seen_at FROM customers WHERE first_name = ?",
        params=["Jane"],
    )
    assert list(got.external_id) == ["C2"]
    assert got.loc[0, "seen_at"] == NOW


def test_failed_write_leaves_nothing(db_url: str) -> None:
    bad = _customers().assign(lifecycle_stage=["customer", "not-a-stage"])  # violates a CHECK
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type differs per database
        store.write_frame(db_url, bad, "customers")
    assert len(store.read_frame(db_url, "customers")) == 0


def test_unknown_column_is_refused(db_url: str) -> None:
    with pytest.raises(StoreError, match="no column"):
        store.write_frame(db_url, _customers().assign(shoe_size=[1, 2]), "customers")


def test_write_frames_is_one_transaction(db_url: str) -> None:
    customers = _customers().assign(customer_id=[1, 2])
    orders = pd.DataFrame(
        {"customer_id": [1, 99], "ordered_at": [NOW, NOW], "amount": [10.0, 20.0]}
    )  # customer 99 does not exist: the foreign key fails the second write
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error
        store.write_frames(
            db_url, [store.Write(customers, "customers"), store.Write(orders, "orders")]
        )
    assert store.read_frame(db_url, "SELECT COUNT(*) AS n FROM customers")["n"][0] == 0
    results = store.write_frames(
        db_url,
        [
            store.Write(customers, "customers"),
            store.Write(orders.iloc[:1], "orders"),
            store.Write(
                customers.assign(first_name=["Иван", "Джейн"]),
                "customers",
                mode="upsert",
                key=["customer_id"],
            ),
        ],
    )
    assert [r.inserted for r in results] == [2, 1, 0]
    assert results[2].updated == 1 and results[2].unchanged == 1
    names = store.read_frame(db_url, "SELECT first_name FROM customers ORDER BY customer_id")
    assert names["first_name"].tolist() == ["Иван", "Джейн"]


def test_sqlite_text_column_starting_with_nulls_reads(sqlite_url: str) -> None:
    # the SQLite ADBC driver guesses types from its first batch: 5,000 NULLs then a string
    n = 5_000
    leads = pd.DataFrame(
        {
            "lead_id": range(1, n + 2),
            "source": ["site_form"] * (n + 1),
            "status": ["new"] * n + ["disqualified"],
            "disqualify_reason": [None] * n + ["spam"],
            "created_at": [NOW] * (n + 1),
        }
    )
    store.write_frame(sqlite_url, leads, "leads")
    got = store.read_frame(sqlite_url, "leads")
    assert got["disqualify_reason"].notna().sum() == 1
    assert got["disqualify_reason"].iloc[-1] == "spam"


def test_sqlite_big_tables_read_in_slices_equal_one_read(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 4_000
    leads = pd.DataFrame(
        {
            "lead_id": range(1, n + 1),
            "source": ["site_form", "call"] * (n // 2),
            "status": ["new"] * (n - 10) + ["disqualified"] * 10,
            # only the last slice holds reasons: the others infer the column as all-NULL
            "disqualify_reason": [None] * (n - 10) + ["spam"] * 10,
            "created_at": [NOW] * n,
        }
    )
    store.write_frame(sqlite_url, leads, "leads")
    whole = store.read_frame(sqlite_url, "leads")
    monkeypatch.setattr(store, "PARALLEL_ROWS", 100)
    sliced = store.read_frame(sqlite_url, "leads")
    pd.testing.assert_frame_equal(sliced, whole)
    assert sliced["lead_id"].tolist() == list(range(1, n + 1))
    # a where clause with OR keeps its meaning inside each slice
    some = store.read_frame(
        sqlite_url, "leads", columns=["lead_id"], where="lead_id <= 3 OR lead_id > 3998"
    )
    assert some["lead_id"].tolist() == [1, 2, 3, 3999, 4000]


def test_an_all_missing_column_takes_the_models_type(db_url: str) -> None:
    store.write_frame(db_url, _customers(), "customers")
    flags = pd.Series([None, None], dtype=object)  # nothing known yet: no type of its own
    points = pd.DataFrame(
        {
            "contact_point_id": [1, 2],
            "customer_id": [1, 1],
            "kind": ["email", "phone"],
            "value": ["a@b.ru", "+79161234567"],
            "is_primary": [True, True],
            "created_at": pd.to_datetime(["2026-01-01", "2026-01-01"], utc=True),
            "is_valid": flags,
        }
    )
    store.write_frame(db_url, points, "contact_points")
    store.write_frame(
        db_url,
        points,
        "contact_points",
        mode="upsert",
        key=["contact_point_id"],
        update=["is_valid"],
    )
    back = store.read_frame(db_url, "contact_points", columns=["contact_point_id", "is_valid"])
    assert back["is_valid"].isna().all() and len(back) == 2


def _leads_with_scores(url: str, ids: list[int]) -> pd.DataFrame:
    leads = pd.DataFrame(
        {"lead_id": ids, "source": ["web"] * len(ids), "created_at": [NOW] * len(ids)}
    )
    store.write_frame(url, leads, "leads")
    return pd.DataFrame({"lead_id": ids, "as_of": [NOW] * len(ids), "rule_score": [0.5] * len(ids)})


def _indexes(url: str, table: str) -> list[str]:
    if url.startswith("sqlite"):
        sql = f"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '{table}'"
    else:
        sql = f"SELECT indexname AS name FROM pg_indexes WHERE tablename = '{table}'"
    return sorted(store.read_frame(url, sql)["name"])


def test_a_big_replace_all_rebuilds_indexes_and_checks_foreign_keys_set_wise(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "BULK_ROWS", 3)  # the bulk path, on a few rows
    scores = _leads_with_scores(db_url, [1, 2, 3, 4])
    store.write_frame(db_url, scores.iloc[:2], "lead_scores")
    indexes = _indexes(db_url, "lead_scores")
    runs = pd.DataFrame(
        {"segment": ["vip"], "as_of": [NOW], "definition_sha256": ["0" * 64]}
        | {"members": [3], "entered": [3], "left": [0]}
    )
    results = store.write_frames(
        db_url,
        [
            store.Write(scores.iloc[1:].assign(rule_score=0.9), "lead_scores", mode="replace_all"),
            store.Write(runs, "segment_runs", mode="upsert", key=["segment", "as_of"]),
        ],
    )
    assert [r.inserted for r in results] == [3, 1]
    got = store.read_frame(db_url, "SELECT lead_id, rule_score FROM lead_scores ORDER BY lead_id")
    assert got["lead_id"].tolist() == [2, 3, 4] and set(got["rule_score"]) == {0.9}
    assert _indexes(db_url, "lead_scores") == indexes
    orphan = scores.assign(lead_id=[1, 2, 3, 99])
    # a score of a lead that does not exist refuses the whole transaction: on SQLite checked
    # set-wise at its end (the error names the rows), on PostgreSQL by the re-added constraint
    error = (
        (
            StoreError,
            r"lead_scores\.lead_id: 1 value\(s\) not found in leads\.lead_id \(e\.g\. 99\)",
        )
        if db_url.startswith("sqlite")
        else (Exception, "foreign key")
    )
    with pytest.raises(error[0], match=error[1]):
        store.write_frames(
            db_url,
            [
                store.Write(orphan, "lead_scores", mode="replace_all"),
                store.Write(
                    runs.assign(members=7), "segment_runs", mode="upsert", key=["segment", "as_of"]
                ),
            ],
        )
    assert store.read_frame(db_url, "SELECT lead_id FROM lead_scores")["lead_id"].tolist() == [
        2,
        3,
        4,
    ]
    assert store.read_frame(db_url, "SELECT members FROM segment_runs")["members"].tolist() == [3]


def test_a_big_replace_all_of_a_parent_table_keeps_its_children_safe(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "BULK_ROWS", 2)
    scores = _leads_with_scores(db_url, [1, 2, 3])
    store.write_frame(db_url, scores, "lead_scores")
    # leads is the parent of lead_scores: replacing it without lead 3 would orphan a score
    leads = store.read_frame(db_url, "SELECT lead_id, source, created_at FROM leads")
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error
        store.write_frames(db_url, [store.Write(leads.iloc[:2], "leads", mode="replace_all")])
    assert len(store.read_frame(db_url, "SELECT lead_id FROM leads")) == 3
