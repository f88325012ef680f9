"""crm.snapshot: the scored-profiles Parquet file, written atomically, read by columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crm.snapshot import read_snapshot, write_snapshot


def test_round_trip_and_column_subset(tmp_path: Path) -> None:
    profiles = pd.DataFrame(
        {"city": ["Москва", "London"], "orders": [3, 0], "tags": [["floor:low"], []]},
        index=pd.Index([7, 9], name="customer_id"),
    )
    path = write_snapshot(profiles, tmp_path / "var" / "profiles.parquet")
    assert not path.with_suffix(".parquet.tmp").exists()
    whole = read_snapshot(path)
    assert whole.index.name == "customer_id" and list(whole.index) == [7, 9]
    assert list(whole.loc[7, "tags"]) == ["floor:low"]
    some = read_snapshot(path, columns=["city", "no_such_field", "city"])
    assert list(some.columns) == ["city"] and list(some.index) == [7, 9]


def test_missing_snapshot_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="crm segments run"):
        read_snapshot(tmp_path / "nothing.parquet")
