"""The scored-profiles snapshot: the last segments run's profiles as one Parquet file.

Written by the segments flow after its database transaction commits; read by
``crm segments preview`` and the notebooks, which need a few columns of a million rows in
well under a second and should not pay for importing the whole scoring stack to get them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from crm.settings import get_settings

__all__ = ["read_snapshot", "snapshot_path", "write_snapshot"]


def snapshot_path() -> Path:
    """Where the latest scored profiles are kept (``<CRM_DATA_DIR>/profiles.parquet``)."""
    return get_settings().data_dir / "profiles.parquet"


def write_snapshot(profiles: pd.DataFrame, path: Path | None = None) -> Path:
    """Write the profiles atomically: readers see the old file or the new one, never half."""
    path = path or snapshot_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    profiles.to_parquet(tmp)
    os.replace(tmp, path)
    return path


def read_snapshot(path: Path | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """The scored profiles of the last segments run (FileNotFoundError before the first).

    ``columns`` reads only those that exist (the ``customer_id`` index always comes along).
    """
    path = path or snapshot_path()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no profiles snapshot yet; run `crm segments run` first")
    if columns is not None:
        import pyarrow.parquet as pq

        present = set(pq.read_schema(path).names)
        columns = [c for c in dict.fromkeys(columns) if c in present]
    return pd.read_parquet(path, columns=columns)
