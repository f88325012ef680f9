"""Engines, sessions and migrations. Engines are made by a function, never at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from crm.errors import StoreError

__all__ = [
    "check_sqlite_folder",
    "connect_async",
    "make_engine",
    "migrate",
    "session_scope",
    "sqlite_path",
]

if TYPE_CHECKING:  # psycopg is imported when a connection is opened, not with this module
    import psycopg

    AsyncConnection = psycopg.AsyncConnection[Any]
    """An asynchronous PostgreSQL connection (psycopg), as :func:`connect_async` opens it."""

_MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_path(url: str) -> Path | None:
    """The file behind an ``sqlite:///`` URL, or None for other databases / in-memory."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def check_sqlite_folder(url: str) -> Path | None:
    """The SQLite file of ``url``; its folder must exist (a typo is an error, not a new database)."""
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        raise StoreError(
            f"{url}: the folder {path.parent} does not exist; create it or fix CRM_DATABASE_URL"
        )
    return path


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine for ``url``; SQLite gets foreign keys, a busy timeout and no pooling.

    SQLite files are also written by :mod:`crm.store` through ADBC, which links its own copy
    of SQLite. Two copies in one process are safe only while their transactions do not
    overlap, so SQLite engines do not keep idle connections (``NullPool``) and the database
    stays in rollback-journal mode (WAL's shared index must not be shared by two copies).
    """
    path = check_sqlite_folder(url)
    if url.startswith("sqlite") and "poolclass" not in kwargs and path is not None:
        kwargs["poolclass"] = NullPool
    engine = create_engine(url, **kwargs)  # type: ignore[arg-type]
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


async def connect_async(engine: Engine) -> AsyncConnection:
    """An asynchronous autocommit connection to ``engine``'s PostgreSQL database.

    For statements run by an event loop itself, without a thread: the gateway's intake
    writer (:mod:`api.groupcommit`), whose batches are each one statement and so their
    own transaction. ``engine`` gives the URL (its driver name aside, psycopg's own).
    """
    if engine.dialect.name != "postgresql":
        raise StoreError(f"{engine.url}: an asynchronous connection needs PostgreSQL")
    import psycopg

    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        yield session


def _alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "heads") -> None:
    """Apply Alembic migrations up to ``revision`` (all heads by default)."""
    from alembic import command

    check_sqlite_folder(url)
    command.upgrade(_alembic_config(url), revision)
