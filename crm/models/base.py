"""The one declarative base, with a constraint naming convention for Alembic."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Integer, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["ID", "Base", "TZDateTime", "UTCDateTime"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit ids on PostgreSQL; plain INTEGER on SQLite so it stays the rowid alias.
ID = BigInteger().with_variant(Integer(), "sqlite")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A UTC instant: ``timestamptz`` on PostgreSQL, integer microseconds since 1970 on SQLite.

    SQLite has no timestamp type; storing an integer (rather than ISO text) lets bulk
    reads and writes move timestamps through Arrow without parsing or formatting
    (10M rows in milliseconds instead of seconds), and keeps comparisons numeric.
    The ORM sees aware ``datetime`` objects on both databases; naive values are refused.
    In migrations use ``crm.migrations.columns.utc_datetime()`` (the same storage, written once).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime (UTC)")
        if dialect.name == "sqlite":
            delta = value - _EPOCH
            return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return _EPOCH + dt.timedelta(microseconds=int(value))
        return value.astimezone(dt.UTC)


#: Timestamps are stored in UTC (see :class:`UTCDateTime`).
TZDateTime = UTCDateTime()


class Base(DeclarativeBase):
    """Base of every table; ``Base.metadata`` is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime(), int: ID}
