"""Ledger entries: building them, checking them, and appending them once per key.

The ledger's vocabulary (:data:`KINDS`, :data:`LEDGER_COLUMNS`) and the functions that make
and append entries; :mod:`loyalty.ledger` describes the ledger as a whole. Every entry has a
unique ``idempotency_key``: :func:`append` adds only keys the ledger does not hold yet.

Small inputs (a checkout, one customer's ledger) take a plain-Python path below
:data:`SMALL_ROWS` rows: dict lookups and object arrays cost less than the hash tables and
Arrow buffers that pay off on millions of rows. Both paths give the same result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm.asof import as_instant
from loyalty.errors import InsufficientPointsError, InvalidLedgerError, require_columns

__all__ = [
    "KINDS",
    "LEDGER_COLUMNS",
    "SMALL_ROWS",
    "adjustment_entry",
    "append",
    "empty_ledger",
    "instant",
    "make_entries",
    "new_entries",
    "validate_ledger",
]

KINDS = ("earn", "burn", "expire", "reverse", "adjust")

#: Columns of a ledger frame (the ``loyalty_ledger`` table adds ``entry_id`` and ``created_at``).
LEDGER_COLUMNS = [
    "idempotency_key",
    "customer_id",
    "kind",
    "points",
    "reason",
    "rule",
    "operator",
    "source_kind",
    "source_id",
    "ref_key",
    "occurred_at",
    "available_at",
    "expires_at",
]

_COLUMNS_INDEX = pd.Index(LEDGER_COLUMNS)

#: Below this many rows (both sides of a lookup together) the plain-Python path is taken.
SMALL_ROWS = 2000


def _small(n: int) -> bool:
    """Whether ``n`` rows take the plain-Python path (read at each call: tests lower it)."""
    return n < SMALL_ROWS


_TS: Any = "datetime64[us, UTC]"
_STR = pd.StringDtype(na_value=np.nan)  # pandas' default "str"
#: its array type; ``_from_sequence`` (the extension-array constructor) skips ``pd.array``'s
#: dispatch, a third of the cost of a one-row entry
_STR_ARRAY: Any = _STR.construct_array_type()


def instant(value: Any, tz: Any = None) -> pd.Timestamp:
    """``value`` as an aware UTC instant, by :func:`crm.asof.as_instant`'s one rule.

    The ledger has no time zone of its own: a bare date or a naive datetime is read in ``tz``
    (default UTC). Functions that know the program pass ``rules.program.timezone``.
    """
    return as_instant(value, tz)


def _empty() -> pd.DataFrame:
    text = pd.Series([], dtype="str")
    ts = pd.Series([], dtype=_TS)
    ints = pd.Series([], dtype="int64")
    return pd.DataFrame(
        {
            c: (ints if c in ("customer_id", "points") else ts if c.endswith("_at") else text)
            for c in LEDGER_COLUMNS
        }
    )


_EMPTY = _empty()


def empty_ledger() -> pd.DataFrame:
    """A ledger with no entries and the right dtypes."""
    return _EMPTY.copy()


_UTC = pd.DatetimeTZDtype("us", "UTC")
_NAT_US = np.iinfo(np.int64).min
_DAY_US = 86_400_000_000


def _us(values: Any) -> np.ndarray:
    """Instants as int64 microseconds since the epoch (missing: the smallest int64).

    An aware column is read as it is (its integers are UTC whatever its zone); anything
    else goes through ``pandas.to_datetime(..., utc=True)``, so a naive value is UTC.
    """
    arr: Any = values.array if isinstance(values, pd.Series | pd.Index) else values
    if not isinstance(arr, pd.arrays.DatetimeArray) or arr.tz is None:
        arr = pd.to_datetime(values, utc=True)
        arr = arr.array if isinstance(arr, pd.Series | pd.Index) else arr
    if arr.unit != "us":
        arr = arr.as_unit("us")
    return np.asarray(arr.asi8)


def _as_us(value: Any, n: int) -> np.ndarray:
    """A column of instants as int64 UTC microseconds, from a Series, an array or a scalar."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "M":
        return value.astype("datetime64[us]").view(np.int64)  # naive: UTC, as to_datetime
    if isinstance(value, pd.Series | pd.Index | pd.arrays.DatetimeArray | np.ndarray | list):
        return _us(value).copy()  # the entries never share a buffer with their input
    return np.full(n, instant(value).value // 1000, dtype=np.int64)


def _utc(us: np.ndarray) -> Any:
    """int64 UTC microseconds (the smallest int64: missing) as an aware datetime array.

    ``_simple_new`` wraps the buffer as it is; ``pd.array(..., dtype=...)`` would check
    and convert it again, 35 µs a column, a tenth of a one-row entry.
    """
    return pd.arrays.DatetimeArray._simple_new(  # type: ignore[attr-defined]
        np.ascontiguousarray(us).view("datetime64[us]"), dtype=_UTC
    )


def _array(frame: pd.DataFrame, column: str) -> Any:
    """The array behind ``frame[column]`` (a numpy or extension array), no Series built.

    On a ledger of a few rows building the Series costs ten times reading its array, and a
    call reads a dozen columns.
    """
    where = frame.columns.get_loc(column)
    if isinstance(where, int):
        return frame._get_column_array(where)  # type: ignore[attr-defined,operator]
    return frame[column].array  # a repeated column name: pandas decides


def _arrow_text(values: Any) -> pa.Array | pa.ChunkedArray:
    """Text values (a Series, an array, an Arrow array) as Arrow strings, missing as null."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    if isinstance(values, pd.arrays.ArrowStringArray):
        return values.__arrow_array__()
    return pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)


def _as_text(value: Any, n: int) -> Any:
    """A column of text (missing allowed) from a Series, an array or a scalar."""
    if isinstance(value, pd.Series):
        if isinstance(value.dtype, pd.StringDtype) and value.dtype.na_value is np.nan:
            return value.array
        value = value.to_numpy(dtype=object)
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return pd.array(value, dtype="str")
    if isinstance(value, np.ndarray | pd.Index | list):
        if _small(len(value)):
            return _small_text(np.asarray(value, dtype=object))
        return pd.array(_arrow_text(value), dtype="str")
    if value is None:
        return _STR_ARRAY(pa.nulls(n, pa.large_string()), dtype=_STR)
    if _small(n):
        return _small_text(np.full(n, value, dtype=object))
    one = pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), pa.array([str(value)]))
    return pd.array(one.cast(pa.string()), dtype="str")


def _small_text(values: np.ndarray) -> Any:
    """An object array of text as the "str" array: Arrow's constructor, then pandas' wrapper."""
    try:
        return _STR_ARRAY(pa.array(values, type=pa.large_string(), from_pandas=True), dtype=_STR)
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # not all text: pandas converts each value
        return _STR_ARRAY._from_sequence(values, dtype=_STR)


def _as_int(value: Any, n: int) -> np.ndarray:
    if isinstance(value, pd.Series | pd.Index):
        return value.to_numpy(dtype=np.int64)
    if isinstance(value, np.ndarray | list):
        return np.asarray(value, dtype=np.int64)
    return np.full(n, int(value), dtype=np.int64)


def make_entries(
    *,
    key: Any,
    customer_id: Any,
    kind: str,
    points: Any,
    reason: Any,
    occurred_at: Any,
    source_kind: Any,
    source_id: Any = None,
    rule: Any = None,
    operator: Any = None,
    ref_key: Any = None,
    available_at: Any = None,
    validity_days: int | None = None,
) -> pd.DataFrame:
    """Build ledger entries from columns (arrays/Series) or scalars broadcast to every row.

    Parameters
    ----------
    key : idempotency keys, unique per event (``"earn:1001:base"``).
    kind : one of :data:`KINDS`.
    available_at : when the points become spendable (default: ``occurred_at``).
    validity_days : positive entries expire this many days after ``available_at``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LEDGER_COLUMNS`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    keys = _as_text(key, 1)
    n = len(keys)
    occ_us = _as_us(occurred_at, n)
    occ = _utc(occ_us)
    if available_at is None:  # the same instants, in an array of its own
        avail_us, avail = occ_us, _utc(occ_us.copy())
    else:
        avail_us = _as_us(available_at, n)
        avail = _utc(avail_us)
    pts = _as_int(points, n)
    exp_us = np.full(n, _NAT_US, dtype=np.int64)
    if validity_days is not None:
        grant = (pts > 0) & (avail_us != _NAT_US)
        exp_us[grant] = avail_us[grant] + int(validity_days) * _DAY_US
    columns = [
        keys,
        _as_int(customer_id, n),
        _as_text(kind, n),
        pts,
        _as_text(reason, n),
        _as_text(rule, n),
        _as_text(operator, n),
        _as_text(source_kind, n),
        _as_text(source_id, n),
        _as_text(ref_key, n),
        occ,
        avail,
        _utc(exp_us),
    ]
    # every column is built above with its final dtype and length n: the frame's own
    # checks (a third of a one-row entry) would only confirm that
    return pd.DataFrame._from_arrays(  # type: ignore[attr-defined]
        columns, columns=_COLUMNS_INDEX, index=pd.RangeIndex(n), verify_integrity=False
    )


def validate_ledger(ledger: pd.DataFrame) -> None:
    """Check the ledger rules: unique keys, known kinds, sign matching the kind, no zeros.

    Raises
    ------
    InvalidLedgerError
        Naming the column and the offending entries.
    """
    require_columns(ledger, LEDGER_COLUMNS, "ledger")
    keys = ledger["idempotency_key"]
    dup = keys[keys.duplicated()]
    if len(dup):
        raise InvalidLedgerError("idempotency_key", dup, "keys must be unique")
    bad_kind = ~ledger["kind"].isin(KINDS)
    if bad_kind.any():
        raise InvalidLedgerError("kind", keys[bad_kind], f"kind must be one of {KINDS}")
    pts = ledger["points"].to_numpy()
    kind = ledger["kind"].to_numpy()
    wrong = (
        (pts == 0)
        | ((kind == "earn") & (pts < 0))
        | (((kind == "burn") | (kind == "expire")) & (pts > 0))
    )
    if wrong.any():
        raise InvalidLedgerError(
            "points", keys[wrong], "earn is positive, burn and expire negative, none zero"
        )


def _lookup(values: Any, keys: Any) -> np.ndarray:
    """The position of each of ``values`` in ``keys`` (-1 when absent or missing).

    Below :data:`SMALL_ROWS` a dict; above, Arrow's hash lookup in C (pandas 3 builds the
    lookup set of a text ``isin`` one Python scalar at a time, minutes against a ledger of
    ten million keys). The first position of a repeated key wins on both paths.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if len(keys) == 0:
        return np.full(n, -1, dtype=np.int64)
    if _small(n + len(keys)):
        where: dict[Any, int] = {}
        for i, k in enumerate(_as_list(keys)):
            if isinstance(k, str):
                where.setdefault(k, i)
        return np.fromiter(
            (where.get(v, -1) if isinstance(v, str) else -1 for v in _as_list(values)),
            dtype=np.int64,
            count=n,
        )
    vals, within = _arrow_text(values), _arrow_text(keys)
    if _PROBE_KEYS * n < len(keys):
        return _lookup_few(vals, within)
    return _positions(pc.index_in(vals, value_set=within, skip_nulls=True))


#: :func:`_lookup` hashes ``values`` and probes ``keys`` when ``keys`` are this many times more
_PROBE_KEYS = 4


def _positions(found: Any) -> np.ndarray:
    """An ``index_in`` result as int64 positions, -1 where it is null."""
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _lookup_few(values: Any, keys: Any) -> np.ndarray:
    """:func:`_lookup` of a few ``values`` in many ``keys``: the hash table is built on the values.

    Arrow builds its hash table on the value set; inserting ten million ledger keys to look
    up a hundred thousand return references costs fifteen times probing them against a
    table of the references. Same result: the first position of a repeated key wins, and a
    repeated value gets the position of its first occurrence.
    """
    first = _positions(pc.index_in(values, value_set=values, skip_nulls=True))
    hit = _positions(pc.index_in(keys, value_set=values, skip_nulls=True))
    at = np.flatnonzero(hit >= 0)  # increasing: the first position of each value comes first
    which, start = np.unique(hit[at], return_index=True)
    pos = np.full(len(values), -1, dtype=np.int64)
    pos[which] = at[start]
    return np.where(first >= 0, pos[np.maximum(first, 0)], -1)


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_pylist()
    if isinstance(values, pd.Series | pd.Index | np.ndarray):
        return values.tolist()
    return list(values)


def _isin(values: Any, keys: Any) -> np.ndarray:
    """``values.isin(keys)`` as a boolean array; a missing value is never in ``keys``."""
    return _lookup(values, keys) >= 0


def _has_key(ledger: pd.DataFrame, key: str) -> pd.DataFrame | None:
    """The entry of ``ledger`` keyed ``key`` (None when there is none: no frame is sliced)."""
    keys = ledger["idempotency_key"]
    if _small(len(keys)):
        hit = [i for i, k in enumerate(keys.tolist()) if k == key]
    else:
        hit = np.flatnonzero((keys == key).to_numpy()).tolist()
    return ledger.iloc[hit].reset_index(drop=True) if hit else None


def new_entries(ledger: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """The ``entries`` whose idempotency key is not in ``ledger`` (each key once)."""
    if entries.empty or ledger.empty:
        fresh = entries
    else:
        mask = ~_isin(entries["idempotency_key"], ledger["idempotency_key"])
        fresh = entries if mask.all() else entries[mask]
    if len(fresh) and _repeats(fresh["idempotency_key"]):
        fresh = fresh.drop_duplicates("idempotency_key")
    return fresh


def _repeats(keys: pd.Series) -> bool:
    """Whether some key occurs twice (Arrow's hash of distinct values, half of pandas' cost)."""
    if _small(len(keys)):
        return bool(keys.duplicated().any())
    return len(pc.unique(_arrow_text(keys))) < len(keys)


def append(ledger: pd.DataFrame, entries: pd.DataFrame) -> pd.DataFrame:
    """Append ``entries`` whose idempotency key is not yet in ``ledger`` (a rerun adds nothing).

    This is the in-memory twin of the database write (``INSERT … ON CONFLICT DO NOTHING``).
    """
    new = new_entries(ledger, entries)
    if new.empty:
        return ledger
    if ledger.empty:
        return new[LEDGER_COLUMNS].reset_index(drop=True)
    return pd.concat([ledger, new[LEDGER_COLUMNS]], ignore_index=True)


def adjustment_entry(
    *,
    customer_id: int,
    points: int,
    operator: str,
    reason: str,
    key: str,
    as_of: Any,
    validity_days: int,
    available: int | None = None,
    ledger: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """An operator's correction: one ``adjust`` entry keyed ``adjust:<key>`` (never an edit).

    Parameters
    ----------
    points : points to add (positive: a new lot valid ``validity_days``) or take away.
    available : the customer's spendable points; a negative adjustment may not take more.
    ledger : when given and it already holds ``adjust:<key>``, that entry is returned as it
        is, before any check: retrying a correction that went through is never refused.

    Raises
    ------
    InsufficientPointsError
        When a negative adjustment exceeds ``available``.
    """
    entry_key = f"adjust:{key}"
    if ledger is not None:
        done = _has_key(ledger, entry_key)
        if done is not None:
            return done
    if points == 0:
        raise ValueError("an adjustment of 0 points changes nothing")
    if points < 0 and available is not None and available < -points:
        raise InsufficientPointsError(customer_id, -points, int(available))
    return make_entries(
        key=entry_key,
        customer_id=customer_id,
        kind="adjust",
        points=points,
        reason=reason[:32],
        operator=operator,
        occurred_at=as_of,
        source_kind="operator",
        source_id=key[:64],
        validity_days=validity_days if points > 0 else None,
    )
