"""Row counts and freshness of the CRM tables (``crm status``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import DateTime, func, select

from crm.db import make_engine
from crm.models.base import UTCDateTime

__all__ = ["table_status"]


def table_status(url: str) -> pd.DataFrame:
    """One row per table: its row count and the newest timestamp it holds.

    Freshness is the maximum of the table's ``created_at``-like column (the
    first of ``occurred_at``, ``ordered_at``, ``recorded_at``, ``created_at``…).
    """
    import crm.models  # noqa: F401
    from crm.models import Base

    engine = make_engine(url)
    rows = []
    try:
        with engine.connect() as conn:
            for name, table in sorted(Base.metadata.tables.items()):
                ts = [c for c in table.columns if isinstance(c.type, DateTime | UTCDateTime)]
                preferred = ("occurred_at", "ordered_at", "recorded_at", "created_at", "as_of")
                ts.sort(key=lambda c: preferred.index(c.name) if c.name in preferred else 99)
                cols: list[Any] = [func.count()]
                if ts:
                    cols.append(func.max(ts[0]))
                result = conn.execute(select(*cols).select_from(table)).one()
                rows.append(
                    {
                        "table": name,
                        "rows": int(result[0]),
                        "newest": str(result[1])[:19] if ts and result[1] is not None else None,
                    }
                )
    finally:
        engine.dispose()
    return pd.DataFrame(rows, columns=["table", "rows", "newest"])
