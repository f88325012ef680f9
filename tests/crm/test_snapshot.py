"""crm.snapshot: one Parquet file per database, written atomically, read only for that database."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from crm import store
from crm.settings import get_settings
from crm.snapshot import (
    NoProfilesError,
    StaleSnapshotError,
    read_snapshot,
    snapshot_path,
    stored_profiles,
    write_snapshot,
)

AS_OF = pd.Timestamp("2026-11-01 12:00", tz="UTC")


def _score(url: str, ids: list[int], as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    """Store scored profiles of ``ids`` in ``url`` the way a segments run does; return them."""
    store.write_frame(
        url,
        pd.DataFrame({"customer_id": ids, "status": "active", "created_at": AS_OF}),
        "customers",
        mode="upsert",
        key=["customer_id"],
    )
    stored = pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": as_of,
            "orders": 1,
            "revenue": 10.0,
            "avg_order_value": 10.0,
            "reachable_email": True,
            "reachable_sms": False,
            "frequency": 1,
            "monetary": 10.0,
        }
    )
    store.write_frame(url, stored, "customer_profiles", mode="replace_all")
    profiles = stored.set_index("customer_id")
    profiles["city"] = ["Москва", "London"][: len(ids)]
    profiles["tags"] = [["floor:low"], []][: len(ids)]
    return profiles


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_round_trip_and_column_subset(db_url: str) -> None:
    profiles = _score(db_url, [7, 9])
    path = write_snapshot(profiles, db_url)
    assert path == snapshot_path(db_url) and not path.with_suffix(".parquet.tmp").exists()
    assert stored_profiles(db_url) == (2, AS_OF)
    whole = read_snapshot(db_url)
    assert whole.index.name == "customer_id" and list(whole.index) == [7, 9]
    assert list(whole.loc[7, "tags"]) == ["floor:low"]
    some = read_snapshot(db_url, columns=["city", "no_such_field", "city"])
    assert list(some.columns) == ["city"] and list(some.index) == [7, 9]


def test_another_database_never_reads_this_ones_snapshot(
    sqlite_url: str, tmp_path: Path, _sqlite_template: Path
) -> None:
    write_snapshot(_score(sqlite_url, [7, 9]), sqlite_url)
    other = tmp_path / "other.db"
    shutil.copy(_sqlite_template, other)
    other_url = f"sqlite:///{other}"
    assert snapshot_path(other_url) != snapshot_path(sqlite_url)  # one file per database
    with pytest.raises(NoProfilesError, match="has no scored profiles yet; run `crm segments run`"):
        read_snapshot(other_url)
    # a database the migrations never reached has none either (and is not created)
    never = f"sqlite:///{tmp_path / 'never.db'}"
    (tmp_path / "never.db").touch()
    assert stored_profiles(never) == (0, None)


def test_a_snapshot_of_another_run_is_not_shown(sqlite_url: str) -> None:
    write_snapshot(_score(sqlite_url, [7, 9]), sqlite_url)
    _score(sqlite_url, [7, 9], as_of=AS_OF + dt.timedelta(days=1))  # a later run, no snapshot
    with pytest.raises(StaleSnapshotError, match="--fresh"):
        read_snapshot(sqlite_url)
    store.execute(sqlite_url, "DELETE FROM customer_profiles")
    with pytest.raises(NoProfilesError):
        read_snapshot(sqlite_url)
