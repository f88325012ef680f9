"""Bulk reads and writes of pandas frames through Arrow and the ADBC drivers.

One code path for SQLite and PostgreSQL. Reads run a query and fetch an Arrow
table (``fetch_arrow_table``); writes ingest an Arrow table (``adbc_ingest``),
either appended to the target or into a temporary staging table followed by
one set-based ``INSERT … SELECT … ON CONFLICT`` (upsert by natural key).
Each call is one transaction. SQLAlchemy still owns the schema: column types
declared in :mod:`crm.models` are restored on read (SQLite keeps timestamps as
text) and shaped on write.

Example
-------
>>> from crm import store
>>> orders = store.read_frame(url, "orders", columns=["customer_id", "ordered_at", "amount"])
>>> result = store.write_frame(url, frame, "customers", mode="upsert", key=["external_id"])
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, Table
from sqlalchemy.engine import make_url

from crm.db import check_sqlite_folder, sqlite_path
from crm.errors import StoreError
from crm.models.base import UTCDateTime

__all__ = [
    "LazyFrames",
    "Write",
    "WriteResult",
    "append_parts",
    "connect",
    "dialect",
    "encode_table",
    "execute",
    "instant_param",
    "placeholders",
    "read_arrow",
    "read_frame",
    "transaction",
    "write_frame",
    "write_frames",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows inserted, updated (changed), and left unchanged."""

    inserted: int
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def _dialect(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {name!r}: use sqlite:/// or postgresql+psycopg://")
    return name


def dialect(url: str) -> str:
    """``"sqlite"`` or ``"postgresql"``: the one place that tells the databases apart."""
    return _dialect(url)


def instant_param(url: str, value: Any) -> Any:
    """``value`` (an instant) as a query parameter, in the form this database stores it.

    SQLite keeps instants as integer microseconds since the epoch, UTC
    (:class:`crm.models.base.UTCDateTime`); PostgreSQL takes an aware ``datetime``.
    """
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if _dialect(url) == "sqlite":
        return int(ts.value // 1000)  # .value is nanoseconds whatever the unit
    return ts.to_pydatetime()


def placeholders(url: str, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in this database's style (``$1…`` on PostgreSQL)."""
    return _numbered_params(sql) if _dialect(url) == "postgresql" else sql


def encode_table(url: str, table: str, data: pa.Table) -> pa.Table:
    """``data`` for ``cursor.adbc_ingest`` into the model table ``table`` of this database.

    Instants become what the database stores (integer microseconds UTC on SQLite, see
    :func:`instant_param`), dates ``date32``, dictionaries and large strings plain strings:
    the same encoding :func:`write_frame` applies.
    """
    return _to_arrow(data, _column_kinds(_model_table(table)), _dialect(url))


def _adbc_uri(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        return str(path) if path is not None else ":memory:"
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """An ADBC DB-API connection to the database behind a SQLAlchemy ``url``.

    SQLite connections are opened in autocommit mode so that pragmas take effect
    (they are ignored inside a transaction); use :func:`transaction` around writes.
    """
    dialect = _dialect(url)
    if dialect == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite_driver

        path = check_sqlite_folder(url)
        if path is not None and not path.exists():
            # never a silently created empty database that a read then reports on
            raise StoreError(
                f"no database at {path}: create it with `crm db upgrade` "
                "(or point CRM_DATABASE_URL at the right file)"
            )
        conn = sqlite_driver.connect(_adbc_uri(url), autocommit=True)
        with conn.cursor() as cur:
            # No WAL: this driver links its own copy of SQLite, and two copies in one process
            # must not share a WAL index (the closing one would checkpoint and drop it under
            # the other). With the rollback journal, the rule is simply that an ADBC write and
            # an SQLAlchemy transaction never overlap in one process (sqlite.org/howtocorrupt.html).
            for pragma in ("busy_timeout=30000", "foreign_keys=ON"):
                cur.execute(f"PRAGMA {pragma}")
                cur.fetchall()
    else:
        import adbc_driver_postgresql.dbapi as pg_driver

        conn = pg_driver.connect(_adbc_uri(url))
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """A cursor inside one transaction on ``conn``: committed on success, rolled back on error."""
    explicit = bool(getattr(conn, "_autocommit", False))  # SQLite connections (see connect)
    cur = conn.cursor()
    try:
        if explicit:
            cur.execute("BEGIN IMMEDIATE")
        yield cur
        if explicit:
            cur.execute("COMMIT")
        else:
            conn.commit()
    except BaseException:
        if explicit:
            cur.execute("ROLLBACK")
        else:
            conn.rollback()
        raise
    finally:
        cur.close()


def _quote(name: str) -> str:
    if not _IDENT.match(name):
        raise StoreError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


def _model_table(name: str) -> Table | None:
    import crm.models  # noqa: F401  (register every table)
    from crm.models import Base

    return Base.metadata.tables.get(name)


def _column_kinds(table: Table | None) -> dict[str, str]:
    if table is None:
        return {}
    kinds: dict[str, str] = {}
    for col in table.columns:
        t = col.type
        if isinstance(t, UTCDateTime | DateTime):
            kinds[col.name] = "timestamp"
        elif isinstance(t, Date):
            kinds[col.name] = "date"
        elif isinstance(t, Boolean):
            kinds[col.name] = "bool"
        elif isinstance(t, Integer):
            kinds[col.name] = "int"
        elif isinstance(t, Float | Numeric):
            kinds[col.name] = "float"
    return kinds


def _guess_kind(name: str) -> str | None:
    if name.endswith("_at"):
        return "timestamp"
    if name.endswith("_date") or name == "as_of_date":
        return "date"
    return None


def _restore_types(tbl: pa.Table, kinds: dict[str, str]) -> pa.Table:
    """Give back the declared types of SQLite columns (timestamps and dates arrive as text)."""
    for i, name in enumerate(tbl.column_names):
        kind = kinds.get(name) or _guess_kind(name)
        col = tbl.column(i)
        new = None
        if kind == "timestamp" and pa.types.is_integer(col.type):
            new = col.cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))  # see UTCDateTime
        elif kind == "timestamp" and (
            pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        ):
            text = pc.replace_substring(col, "T", " ")
            new = pc.assume_timezone(pc.cast(text, pa.timestamp("us"), safe=False), "UTC")
        elif kind == "timestamp" and pa.types.is_null(col.type):
            new = pa.nulls(len(col), pa.timestamp("us", tz="UTC"))
        elif kind == "date" and (pa.types.is_string(col.type) or pa.types.is_null(col.type)):
            new = pc.cast(pc.cast(col, pa.string()), pa.timestamp("s")).cast(pa.date32())
        elif kind == "bool" and pa.types.is_integer(col.type):
            new = pc.not_equal(col, 0)
        elif kind == "bool" and pa.types.is_null(col.type):
            new = pa.nulls(len(col), pa.bool_())
        elif (
            kind == "float" and (pa.types.is_integer(col.type) or pa.types.is_null(col.type))
        ) or (kind == "float" and pa.types.is_decimal(col.type)):
            new = pc.cast(col, pa.float64())
        elif pa.types.is_timestamp(col.type) and col.type.tz is not None and col.type.tz != "UTC":
            new = col.cast(pa.timestamp(col.type.unit, tz="UTC"))
        elif isinstance(col.type, pa.OpaqueType) and col.type.type_name == "numeric":
            # PostgreSQL NUMERIC arrives as opaque text; frames carry it as float64 like SQLite's
            new = pa.chunked_array(
                [chunk.storage for chunk in col.chunks], col.type.storage_type
            ).cast(pa.float64())
        if new is not None:
            tbl = tbl.set_column(i, name, new)
    return tbl


def read_arrow(
    url: str,
    source: str,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    params: Sequence[Any] | None = None,
) -> pa.Table:
    """Read a table name or a ``SELECT`` into an Arrow table (see :func:`read_frame`)."""
    table = None
    select = ""
    if _IDENT.match(source):
        table = _model_table(source)
        cols = ", ".join(_quote(c) for c in columns) if columns else "*"
        select = f"SELECT {cols} FROM {_quote(source)}"
        sql = f"{select} WHERE {where}" if where else select
    else:
        if columns or where:
            raise StoreError("columns= and where= apply to a table name, not to a query")
        sql = source
    dialect = _dialect(url)
    if params and dialect == "postgresql":
        sql = _numbered_params(sql)
    if dialect == "sqlite" and table is not None:
        result = _read_sqlite_sliced(url, source, select, where, params)
    else:
        with connect(url) as conn:
            result = _fetch(conn, dialect, sql, params)
    if dialect == "sqlite":
        return _restore_types(result, _column_kinds(table))
    return _restore_types(result, {})


#: SQLite tables with at least this many rows are read in parallel rowid slices.
PARALLEL_ROWS = 500_000


def _fetch(conn: Any, dialect: str, sql: str, params: Sequence[Any] | None) -> pa.Table:
    with conn.cursor() as cur:
        if dialect == "sqlite":
            # The SQLite driver infers each column's type from the first batch and fails on a
            # later mismatch ("expected INT64 but got STRING") when a text column starts with
            # NULLs (apache/arrow-adbc#581, #2532). One batch for the whole result makes the
            # inference see every value; buffers grow as rows arrive, nothing is preallocated.
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(2**30)})
        cur.execute(sql, params or None)
        return cur.fetch_arrow_table()


def _read_sqlite_sliced(
    url: str, table: str, select: str, where: str | None, params: Sequence[Any] | None
) -> pa.Table:
    """Read a whole-table ``SELECT`` in rowid slices on parallel connections, as one snapshot.

    The driver decodes rows with the GIL released, so two cores read a big table about twice
    as fast. A read transaction held on a coordinating connection keeps a SHARED lock for
    the whole read: no writer can commit in between, so every slice sees the same state.
    """
    workers = min(4, os.cpu_count() or 1)
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        try:
            cur.execute(f"SELECT MIN(rowid), MAX(rowid) FROM {_quote(table)}")
            lo, hi = cur.fetchone()
            if workers < 2 or lo is None or hi - lo + 1 < PARALLEL_ROWS:
                return _fetch(
                    conn, "sqlite", f"{select} WHERE {where}" if where else select, params
                )
            edges = [lo + (hi - lo + 1) * i // workers for i in range(workers)] + [hi + 1]
            cond = f"({where}) AND " if where else ""
            slices = [
                f"{select} WHERE {cond}rowid >= {a} AND rowid < {b}"
                for a, b in itertools.pairwise(edges)
            ]

            def read(part: str) -> pa.Table:
                with connect(url) as other:
                    return _fetch(other, "sqlite", part, params)

            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(read, slices))
        finally:
            cur.execute("ROLLBACK")
    return _concat(parts)


def _concat(parts: list[pa.Table]) -> pa.Table:
    """Concatenate slices whose inferred types may differ where a slice held only NULLs."""
    names = parts[0].column_names
    for i, name in enumerate(names):
        types = {p.schema.field(i).type for p in parts}
        if len(types) == 1:
            continue
        typed = [p.column(i).type for p in parts if p.column(i).null_count < p.num_rows]
        target = typed[0] if typed else pa.null()
        parts = [
            p.set_column(i, name, pa.nulls(p.num_rows, target)) if p.column(i).type != target else p
            for p in parts
        ]
    return pa.concat_tables(parts)


def _numbered_params(sql: str) -> str:
    count = 0

    def repl(_m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", repl, sql)


def read_frame(
    url: str,
    source: str,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    params: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Read a table (optionally some ``columns`` and a ``where`` clause) or a query into pandas.

    Parameters
    ----------
    url : str
        SQLAlchemy database URL (``sqlite:///var/crm.db``, ``postgresql+psycopg://…``).
    source : str
        A table name, or a full ``SELECT`` statement (``?`` placeholders for ``params``).
    columns, where :
        Only with a table name: the columns to read and an SQL condition.

    Returns
    -------
    pandas.DataFrame
        Timestamps as UTC-aware ``datetime64[us, UTC]``, dates as ``datetime.date``
        objects, nullable integers as ``Int64``, text as strings.
    """
    tbl = read_arrow(url, source, columns=columns, where=where, params=params)
    return tbl.to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}.get,
        date_as_object=True,
    ).pipe(_compact_ints)


class LazyFrames(Mapping[str, pd.DataFrame]):
    """Tables of one database, each read (:func:`read_frame`) the first time it is looked up.

    A job that may need any of a dozen tables but, on a given day, touches three (a campaign
    whose trigger reads only ``customers``) reads those three: a million-customer ledger or
    ten million orders are not fetched to be ignored. Each table is read once and kept.

    Parameters
    ----------
    url : str
        The database.
    tables : mapping of str to list of str or None
        Table name → the columns to read (None: every column).
    readers : mapping of str to callable, optional
        Names read by a function of ``url`` instead (a derived or specially typed frame).
    aliases : mapping of str to str, optional
        Other names of the same frame (``{"loyalty_ledger": "ledger"}``): read once.

    Example
    -------
    >>> tables = LazyFrames(url, {"customers": None, "orders": ["customer_id", "ordered_at"]})
    >>> tables["customers"]  # read now; "orders" is never read unless looked up
    """

    def __init__(
        self,
        url: str,
        tables: Mapping[str, Sequence[str] | None],
        readers: Mapping[str, Callable[[str], pd.DataFrame]] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self._tables = dict(tables)
        self._readers = dict(readers or {})
        self._aliases = dict(aliases or {})
        self._read: dict[str, pd.DataFrame] = {}
        self._names = [*self._tables, *self._readers, *self._aliases]

    def __getitem__(self, name: str) -> pd.DataFrame:
        name = self._aliases.get(name, name)
        if name not in self._read:
            if name in self._readers:
                self._read[name] = self._readers[name](self.url)
            elif name in self._tables:
                self._read[name] = read_frame(self.url, name, columns=self._tables[name])
            else:
                raise KeyError(name)
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def loaded(self) -> list[str]:
        """The names read so far."""
        return list(self._read)


def _compact_ints(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns without nulls become plain int64 (faster, and what numpy code expects)."""
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.Int64Dtype) and not col.hasnans:
            frame[name] = col.to_numpy(dtype="int64")
    return frame


_NULL_TYPES = {
    "bool": pa.bool_(),
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
}


def _to_arrow(frame: pd.DataFrame | pa.Table, kinds: dict[str, str], dialect: str) -> pa.Table:
    tbl = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    for i, name in enumerate(tbl.column_names):
        col = tbl.column(i)
        kind = kinds.get(name)
        new = None
        if pa.types.is_timestamp(col.type) or (kind == "timestamp" and pa.types.is_null(col.type)):
            if pa.types.is_null(col.type):
                col = pa.nulls(len(col), pa.timestamp("us", tz="UTC"))
            if col.type.tz is None:
                col = pc.assume_timezone(col, "UTC")
            col = col.cast(pa.timestamp("us", tz="UTC"))
            # SQLite keeps instants as integer microseconds (crm.models.base.UTCDateTime)
            new = col.cast(pa.int64()) if dialect == "sqlite" else col
        elif kind == "date" and pa.types.is_timestamp(col.type):
            new = col.cast(pa.date32())
        elif kind in _NULL_TYPES and (
            pa.types.is_null(col.type)
            or (pa.types.is_string(col.type) and col.null_count == len(col))
        ):
            # an all-missing column has no type of its own: take the model's, so the staging
            # table gets the right column type (PostgreSQL will not cast text to boolean)
            new = pa.nulls(len(col), _NULL_TYPES[kind])
        elif kind == "timestamp" and pa.types.is_string(col.type):
            raise StoreError(f"column {name!r} holds text; parse it to datetimes before writing")
        elif pa.types.is_dictionary(col.type):
            new = col.cast(col.type.value_type)
        elif pa.types.is_large_string(col.type):
            new = col.cast(pa.string())
        if new is not None:
            tbl = tbl.set_column(i, name, new)
    return tbl


def write_frame(
    url: str,
    frame: pd.DataFrame | pa.Table,
    table: str,
    mode: Literal["append", "upsert", "replace_all"] = "append",
    key: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
) -> WriteResult:
    """Write a frame to an existing table set-wise, in one transaction.

    Parameters
    ----------
    frame : pandas.DataFrame or pyarrow.Table
        Columns named as the table's; columns the table lacks are an error.
    mode : {"append", "upsert", "replace_all"}
        ``append`` ingests straight into the table (the fast path for fresh loads);
        ``upsert`` ingests into a temporary staging table, then runs one
        ``INSERT … SELECT … ON CONFLICT (key) DO UPDATE`` that only touches rows
        whose values changed; ``replace_all`` deletes every row first (derived tables).
    key : columns of a unique constraint, required for ``upsert``.
    update : columns to overwrite on conflict (default: every non-key column).

    Returns
    -------
    WriteResult
        Counts of inserted, updated and unchanged rows.
    """
    dialect = _dialect(url)
    data, model, update = _prepare(dialect, frame, table, mode, key, update)
    n = data.num_rows
    bulk = mode == "append" and n >= BULK_ROWS
    with connect(url) as conn:
        # SQLite: foreign keys can only be switched off outside a transaction (see _bulk_append)
        deferred = (
            _sqlite_defer_foreign_keys(conn, [table]).get(table, [])
            if bulk and dialect == "sqlite"
            else []
        )
        with transaction(conn) as cur:
            if bulk:
                return _bulk_write(cur, dialect, table, data, model, deferred)
            return _write_in(cur, dialect, data, model, table, mode, key, update)


def append_parts(
    url: str, parts: Iterable[pd.DataFrame | pa.Table], table: str, rows: int
) -> WriteResult:
    """Append a stream of frames to ``table`` as one bulk append, in one transaction.

    For a write too large to hold at once: each part is made (by the iterator) only when
    the one before it is ingested, so memory holds one part, not the whole write. The
    table is treated as by a bulk :func:`write_frame` append of ``rows`` rows (the caller's
    estimate of the total): if it holds fewer, its indexes are dropped before the first
    part and rebuilt once after the last, and a repeated unique key or a missing parent
    refuses the whole write. An error raised by the iterator rolls the parts before it
    back too.

    Example
    -------
    >>> store.append_parts(url, (plan(k) for k in range(5)), "loyalty_ledger", rows=19_000_000)
    """
    dialect = _dialect(url)
    model = _model_table(table)
    columns: list[str] = []

    def prepared() -> Iterator[pa.Table]:
        for frame in parts:
            data = _prepare(dialect, frame, table, "append", None, None)[0]
            del frame  # held while the next part is made otherwise
            columns[:] = data.column_names
            yield data
            del data

    with connect(url) as conn:
        deferred = (
            _sqlite_defer_foreign_keys(conn, [table]).get(table, []) if dialect == "sqlite" else []
        )
        with transaction(conn) as cur:
            n = _bulk_append(cur, dialect, table, prepared(), rows, deferred)
            if dialect == "postgresql" and n:
                _pg_sync_sequence(cur, table, model, columns)
    return WriteResult(inserted=n)


@dataclass(frozen=True)
class Write:
    """One write of :func:`write_frames`: the arguments of :func:`write_frame` but the URL."""

    frame: pd.DataFrame | pa.Table
    table: str
    mode: Literal["append", "upsert", "replace_all"] = "append"
    key: Sequence[str] | None = None
    update: Sequence[str] | None = None


def write_frames(url: str, writes: Sequence[Write]) -> list[WriteResult]:
    """Several writes in one transaction: all of them land, or none does.

    For derived results that belong together (a run's scores, memberships and its summary),
    so a crash between two tables never leaves one half written. Each write behaves as in
    :func:`write_frame`, except that appends take no bulk path (keep very large appends
    separate). A ``replace_all`` of at least :data:`BULK_ROWS` rows does: its indexes are
    rebuilt once after the ingest, and on SQLite the foreign keys of every write are checked
    set-wise at the end of the transaction instead of row by row (a ``DELETE`` of every row
    with SQLite's checks on walks and journals the table row by row: 25 s instead of 2 s for
    a million lead scores), unless a replaced table is another's foreign-key parent.

    Returns
    -------
    list of WriteResult
        One per write, in order.
    """
    dialect = _dialect(url)
    prepared = [(w, *_prepare(dialect, w.frame, w.table, w.mode, w.key, w.update)) for w in writes]
    bulk = [w.mode == "replace_all" and data.num_rows >= BULK_ROWS for w, data, _, _ in prepared]
    with connect(url) as conn:
        deferred: dict[str, list[tuple[str, str, str]]] = {}
        if dialect == "sqlite" and any(bulk):
            replaced = [w.table for (w, *_), b in zip(prepared, bulk, strict=True) if b]
            deferred = _sqlite_defer_foreign_keys(conn, [w.table for w in writes], replaced)
        with transaction(conn) as cur:
            results = []
            for (w, data, model, update), big in zip(prepared, bulk, strict=True):
                if big:
                    cur.execute(f"DELETE FROM {_quote(w.table)}")
                    results.append(_bulk_write(cur, dialect, w.table, data, model, []))
                else:
                    results.append(
                        _write_in(cur, dialect, data, model, w.table, w.mode, w.key, update)
                    )
            for w, data, _, _ in prepared:
                for column, parent, parent_column in deferred.get(w.table, []):
                    keys = _written_keys(data, column)
                    _check_foreign_key(cur, w.table, keys, column, parent, parent_column)
            return results


def _prepare(
    dialect: str,
    frame: pd.DataFrame | pa.Table,
    table: str,
    mode: str,
    key: Sequence[str] | None,
    update: Sequence[str] | None,
) -> tuple[pa.Table, Table | None, Sequence[str] | None]:
    """Check a write against the model and shape its Arrow table (types, defaults)."""
    model = _model_table(table)
    kinds = _column_kinds(model)
    if model is not None:
        unknown = [
            c
            for c in (frame.column_names if isinstance(frame, pa.Table) else frame.columns)
            if c not in model.c
        ]
        if unknown:
            raise StoreError(f"table {table!r} has no column(s) {unknown}")
    if mode not in ("append", "upsert", "replace_all"):
        raise StoreError(f"unknown write mode {mode!r}: append, upsert or replace_all")
    data = _to_arrow(frame, kinds, dialect)
    if dialect == "postgresql":
        data = _pg_decimals(data, model)
    data, defaulted = _fill_defaults(data, model)
    if mode == "upsert" and update is None:
        # a column the frame did not carry is only defaulted for new rows, never overwritten
        update = [name for name in data.column_names if name not in defaulted]
    if mode == "upsert" and not key:
        raise StoreError("upsert needs key= (the columns of a unique constraint)")
    if mode == "upsert" and any(k not in data.column_names for k in key or ()):
        raise StoreError(f"upsert key {list(key or ())} is not among the frame's columns")
    return data, model, update


def _write_in(
    cur: Any,
    dialect: str,
    data: pa.Table,
    model: Table | None,
    table: str,
    mode: str,
    key: Sequence[str] | None,
    update: Sequence[str] | None,
) -> WriteResult:
    """One prepared write on a cursor inside a transaction."""
    n = data.num_rows
    if mode == "replace_all":
        cur.execute(f"DELETE FROM {_quote(table)}")
    if mode in ("append", "replace_all"):
        if n:
            cur.adbc_ingest(table, data, mode="append")
        result = WriteResult(inserted=n)
    else:
        result = _upsert(cur, dialect, table, data, list(key or ()), update)
    if dialect == "postgresql" and n:
        _pg_sync_sequence(cur, table, model, data.column_names)
    return result


#: Appends of at least this many rows take the bulk path (:func:`_bulk_append`).
BULK_ROWS = 100_000
#: SQLite's page cache, in KiB, on the connection of a bulk append that rebuilds indexes: it
#: also sizes the sorted runs of ``CREATE INDEX`` (the connection is the write's own)
BULK_CACHE_KIB = 262_144


def _bulk_write(
    cur: Any,
    dialect: str,
    table: str,
    data: pa.Table,
    model: Table | None,
    deferred: list[tuple[str, str, str]],
) -> WriteResult:
    """:func:`_bulk_append` of one table, then PostgreSQL's serial id moved past the ids written."""
    n = _bulk_append(cur, dialect, table, [data], data.num_rows, deferred)
    if dialect == "postgresql" and n:
        _pg_sync_sequence(cur, table, model, data.column_names)
    return WriteResult(inserted=n)


def _bulk_append(
    cur: Any,
    dialect: str,
    table: str,
    parts: Iterable[pa.Table],
    rows: int,
    deferred: list[tuple[str, str, str]],
) -> int:
    """Append many rows without paying per-row index and foreign-key costs; returns the rows.

    Row-by-row inserts (ADBC's SQLite driver binds one row at a time; PostgreSQL's COPY
    still fires one foreign-key trigger per row) pay for every secondary index and foreign
    key on every row; inserting 10M orders in random customer order into the
    (customer_id, ordered_at) index alone touches a random page per row. When the table
    holds fewer rows than the ``rows`` about to be appended, its indexes (and, on
    PostgreSQL, its foreign keys) are dropped, the ``parts`` ingested one after the other,
    and the indexes rebuilt by one sort and the foreign keys re-added with one validating
    join, all inside the caller's transaction, so a failure leaves the table as it was. A
    unique index is rebuilt the same way: the sort checks every key at once, and a repeated
    key refuses the whole write (the ledger's idempotency key, 19M text keys of a history
    backfill). Unique *constraints* (and primary keys) stay, and enforce keys as rows
    arrive: SQLite cannot drop one. On SQLite the foreign keys are checked set-wise instead
    (``deferred``, see :func:`_sqlite_defer_foreign_keys`), on the keys of every part.
    """
    t = _quote(table)
    cur.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {t} LIMIT {rows}) AS s")
    existing = int(cur.fetchone()[0])
    restore: list[str] = []
    if existing < rows:
        if dialect == "sqlite":
            cur.execute(
                # sql is NULL for the indexes of constraints written in CREATE TABLE
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = "
                f"'{table}' AND sql IS NOT NULL"
            )
            drops = [(f"DROP INDEX {_quote(name)}", sql) for name, sql in cur.fetchall()]
        else:
            cur.execute(
                "SELECT 'DROP INDEX ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                f"FROM pg_index i WHERE i.indrelid = '{t}'::regclass "
                "AND NOT i.indisprimary AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            )
            drops = list(cur.fetchall())
            cur.execute(
                f"SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint "
                f"WHERE conrelid = '{t}'::regclass AND contype = 'f'"
            )
            drops += [
                (
                    f"ALTER TABLE {t} DROP CONSTRAINT {name}",
                    f"ALTER TABLE {t} ADD CONSTRAINT {name} {ddl}",
                )
                for name, ddl in cur.fetchall()
            ]
        for drop, create in drops:
            cur.execute(drop)
            restore.append(create)
    if dialect == "sqlite" and restore:
        # CREATE INDEX sorts with helper threads when allowed (off by default): ~15% on 2 cores;
        # and in runs as large as the page cache: SQLite's default 2 MB spills a 19M-key
        # index as some 400 runs to temporary files, merged in several passes, which on a
        # disk shared with other jobs took 15-50 s of waiting where 256 MB runs took 1-3 s
        for pragma in (f"threads={min(8, os.cpu_count() or 1)}", f"cache_size=-{BULK_CACHE_KIB}"):
            cur.execute(f"PRAGMA {pragma}")
            cur.fetchall()
    n = 0
    keys: dict[str, list[pa.Array]] = {column: [] for column, _, _ in deferred}
    for data in parts:
        if data.num_rows:
            cur.adbc_ingest(table, data, mode="append")
            n += data.num_rows
            for column, found in keys.items():
                found.append(_written_keys(data, column))
        del data  # a part is let go before the next one is made
    for create in restore:  # indexes first, then foreign keys (their order in ``drops``)
        cur.execute(create)
    for column, parent, parent_column in deferred:
        if keys[column]:
            _check_foreign_key(cur, table, _union(keys[column]), column, parent, parent_column)
    return n


def _union(arrays: list[pa.Array]) -> pa.Array:
    if len(arrays) == 1:
        return arrays[0]
    return pc.unique(pa.chunked_array(arrays))


def _sqlite_defer_foreign_keys(
    conn: Any, tables: Sequence[str], cleared: Sequence[str] = ()
) -> dict[str, list[tuple[str, str, str]]]:
    """Switch SQLite's per-row foreign-key checks off on ``conn`` when they can be done set-wise.

    ``tables`` are the tables about to be written and ``cleared`` those of them whose rows
    are all deleted first. Returns each table's (column, parent table, parent column) to
    check after its rows are written (:func:`_check_foreign_key`); empty, with the checks left
    on, when one of the tables has a composite foreign key or a cleared table is another
    table's parent (a set-wise check of the written rows would not see its children lose
    their parent). ``conn`` is private to one write call, so the setting ends with it.
    """
    checks: dict[str, list[tuple[str, str, str]]] = {}
    with conn.cursor() as cur:
        for table in dict.fromkeys(tables):
            cur.execute(f"PRAGMA foreign_key_list({_quote(table)})")
            rows = cur.fetchall()  # id, seq, table, from, to, on_update, on_delete, match
            if any(row[1] > 0 for row in rows):
                return {}
            if rows:
                checks[table] = [(row[3], row[2], row[4] or "rowid") for row in rows]
        if cleared:
            names = ", ".join(f"'{t}'" for t in cleared)
            cur.execute(
                "SELECT COUNT(*) FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS k "
                f"WHERE m.type = 'table' AND k.\"table\" IN ({names})"
            )
            if cur.fetchone()[0]:
                return {}
        if not checks and not cleared:
            return {}
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.fetchall()
    return checks


def _check_foreign_key(
    cur: Any, table: str, keys: pa.Array, column: str, parent: str, parent_column: str
) -> None:
    """Refuse the write if one of the distinct non-null ``keys`` written to ``column`` has
    no row in ``parent``.

    Set-wise in Arrow: the child keys against the parent's key column, read once (a million
    ids are 8 MB and a fraction of a second), instead of staging the keys in a temporary
    table for an anti-join.
    """
    if len(keys) == 0:
        return
    cur.execute(f"SELECT {_quote(parent_column)} FROM {_quote(parent)}")
    known = cur.fetch_arrow_table().column(0)
    if known.type != keys.type:
        known = known.cast(keys.type)
    missing = keys.filter(pc.invert(pc.is_in(keys, value_set=known)))
    if len(missing):
        examples = pc.array_take(missing, pc.array_sort_indices(missing)[:5]).to_pylist()
        raise StoreError(
            f"{table}.{column}: {len(missing)} value(s) not found in {parent}.{parent_column} "
            f"(e.g. {', '.join(map(str, examples))}); write the {parent} rows first"
        )


def _written_keys(data: pa.Table, column: str) -> pa.Array:
    """The distinct non-null values ``data`` writes to ``column`` (none if it lacks it)."""
    if column not in data.column_names:
        return pa.array([], pa.int64())
    return pc.unique(data.column(column).drop_null())


def _pg_sync_sequence(cur: Any, table: str, model: Table | None, columns: list[str]) -> None:
    """Move a serial id's sequence past the largest id after rows were written with explicit ids.

    PostgreSQL only advances the sequence when it hands out an id itself; without this,
    the next insert that leaves the id to the database (an import after a sample load)
    would collide with the loaded rows.
    """
    pk = list(model.primary_key.columns) if model is not None else []
    if len(pk) != 1 or pk[0].name not in columns:
        return
    name = _quote(pk[0].name)
    cur.execute(f"SELECT pg_get_serial_sequence('{_quote(table)}', '{pk[0].name}')")
    row = cur.fetchone()
    if row is None or row[0] is None:
        return
    cur.execute(
        f"SELECT setval('{row[0]}', COALESCE(MAX({name}), 0) + 1, false) FROM {_quote(table)}"
    )
    cur.fetchall()


def _pg_decimals(data: pa.Table, model: Table | None) -> pa.Table:
    """Send NUMERIC columns as decimals: PostgreSQL's COPY writer cannot turn a double into numeric."""
    if model is None:
        return data
    for col in model.columns:
        t = col.type
        if not isinstance(t, Numeric) or isinstance(t, Float) or col.name not in data.column_names:
            continue
        i = data.column_names.index(col.name)
        values = data.column(i)
        if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
            scale = t.scale or 0
            target = pa.decimal128(t.precision or 38, scale)
            data = data.set_column(i, col.name, pc.round(values, scale).cast(target))
    return data


def _fill_defaults(data: pa.Table, model: Table | None) -> tuple[pa.Table, list[str]]:
    """Add the model's scalar Python-side defaults for columns the frame does not carry."""
    if model is None:
        return data, []
    added = []
    for col in model.columns:
        default = col.default
        if (
            col.name in data.column_names
            or default is None
            or not getattr(default, "is_scalar", False)
        ):
            continue
        data = data.append_column(col.name, pa.array([default.arg] * data.num_rows))  # type: ignore[attr-defined]
        added.append(col.name)
    return data, added


def _upsert(
    cur: Any, dialect: str, table: str, data: pa.Table, key: list[str], update: Sequence[str] | None
) -> WriteResult:
    if data.num_rows == 0:
        return WriteResult(inserted=0)
    stage = f"stage_{table}_{uuid.uuid4().hex[:8]}"
    cur.adbc_ingest(stage, data, mode="create", temporary=True)
    cols = data.column_names
    upd = [c for c in (update if update is not None else cols) if c not in key and c in cols]
    t, s = _quote(table), _quote(stage)
    on = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in key)
    differs = (
        " OR ".join(_distinct(dialect, f"t.{_quote(c)}", f"s.{_quote(c)}") for c in upd) or "FALSE"
    )
    cur.execute(
        f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN {differs} THEN 1 ELSE 0 END), 0) FROM {s} s JOIN {t} t ON {on}"
    )
    existing, changed = (int(v) for v in cur.fetchone())
    col_list = ", ".join(_quote(c) for c in cols)
    conflict = ", ".join(_quote(k) for k in key)
    if upd:
        sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in upd)
        differs_excl = " OR ".join(
            _distinct(dialect, f"{t}.{_quote(c)}", f"excluded.{_quote(c)}") for c in upd
        )
        action = f"DO UPDATE SET {sets} WHERE {differs_excl}"
    else:
        action = "DO NOTHING"
    cur.execute(
        f"INSERT INTO {t} ({col_list}) SELECT {col_list} FROM {s} WHERE TRUE "
        f"ON CONFLICT ({conflict}) {action}"
    )
    cur.execute(f"DROP TABLE {s}")
    return WriteResult(
        inserted=data.num_rows - existing, updated=changed, unchanged=existing - changed
    )


def _distinct(dialect: str, a: str, b: str) -> str:
    return f"{a} IS NOT {b}" if dialect == "sqlite" else f"{a} IS DISTINCT FROM {b}"


def execute(url: str, sql: str, params: Sequence[Any] | None = None) -> None:
    """Run one statement (DDL or a set-based update) in its own transaction."""
    if params and _dialect(url) == "postgresql":
        sql = _numbered_params(sql)
    with connect(url) as conn, transaction(conn) as cur:
        cur.execute(sql, params or None)
