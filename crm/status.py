"""Row counts and freshness of the CRM tables (``crm status``)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import DateTime

from crm import store
from crm.models.base import UTCDateTime

__all__ = ["table_status"]

_PREFERRED = ("occurred_at", "ordered_at", "recorded_at", "created_at", "as_of")


def table_status(url: str) -> pd.DataFrame:
    """One row per table: its row count and the newest timestamp it holds.

    Freshness is the maximum of the table's ``created_at``-like column (the first of
    ``occurred_at``, ``ordered_at``, ``recorded_at``, ``created_at``…). One set-wise query
    through :mod:`crm.store`.
    """
    import crm.models  # noqa: F401  (register the tables)
    from crm.models import Base

    none = "NULL" if store.dialect(url) == "sqlite" else "NULL::timestamptz"
    parts = []
    for name, table in sorted(Base.metadata.tables.items()):
        ts = [c for c in table.columns if isinstance(c.type, DateTime | UTCDateTime)]
        ts.sort(key=lambda c: _PREFERRED.index(c.name) if c.name in _PREFERRED else 99)
        latest = f"MAX({ts[0].name})" if ts else none
        parts.append(f"SELECT '{name}' AS tbl, COUNT(*) AS n, {latest} AS newest FROM {name}")
    frame = store.read_frame(url, " UNION ALL ".join(parts))
    newest: pd.Series = frame["newest"]
    if not isinstance(newest.dtype, pd.DatetimeTZDtype):  # SQLite: integer microseconds, UTC
        newest = pd.to_datetime(newest.astype("Int64"), unit="us", utc=True)
    return pd.DataFrame(
        {
            "table": frame["tbl"].astype(str),
            "rows": frame["n"].astype(int),
            "newest": newest.dt.strftime("%Y-%m-%d %H:%M:%S").where(newest.notna(), None),
        }
    ).sort_values("table", ignore_index=True)
