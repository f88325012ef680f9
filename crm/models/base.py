"""The one declarative base, with a constraint naming convention for Alembic."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase

__all__ = ["ID", "Base", "TZDateTime"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit ids on PostgreSQL; plain INTEGER on SQLite so it stays the rowid alias.
ID = BigInteger().with_variant(Integer(), "sqlite")

#: Timestamps are stored in UTC; ``timestamptz`` on PostgreSQL.
TZDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Base of every table; ``Base.metadata`` is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: TZDateTime, int: ID}
