"""Column types the migrations share, written once.

Migrations import these instead of the models so that a revision keeps meaning what it meant
when it was written, whatever the models become; the types here change only with a new
revision that needs them.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["ID", "utc_datetime"]

#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utc_datetime() -> sa.types.TypeEngine:
    """An instant: ``timestamptz`` on PostgreSQL, integer microseconds (UTC) on SQLite.

    The same storage as :class:`crm.models.base.UTCDateTime`.
    """
    return sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
