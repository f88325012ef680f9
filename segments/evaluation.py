"""Evaluating segments over a profiles frame: vectorised masks, shared between segments.

See :mod:`segments.rules` for what each operator means (missing values, windows, birthdays)
and how a field is prepared once per :class:`PreparedProfiles` so that each later condition
is one array operation.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crm.asof import AsOfError, as_instant
from crm.columns import CUSTOMER_ID
from segments.errors import InvalidParameterError, MissingColumnsError
from segments.language import (
    _FLAG_OPS,
    _TEXT,
    _TIME,
    _WINDOW_OPS,
    Condition,
    FieldSpec,
    Group,
    SegmentDefinition,
    _parse_window,
    normalize_text,
)
from segments.schema import _FrameSchema
from segments.validation import validate

__all__ = ["PreparedProfiles", "evaluate", "evaluate_many", "preview"]

_MD_SLOTS = 13 * 32 + 1  # month * 32 + day, plus one always-False slot that code -1 reads


class _Numbers:
    def __init__(self, series: pd.Series, kind: str) -> None:
        if kind == "bool":
            flags = series if series.dtype == bool else series.astype("boolean")
            self.values = flags.to_numpy(dtype=np.float64, na_value=np.nan)
            self.known = ~np.isnan(self.values)
        elif pd.api.types.is_integer_dtype(series.dtype) and not series.hasnans:
            self.values = series.to_numpy(dtype=np.int64)
            self.known = np.ones(len(series), bool)
        else:
            self.values = pd.to_numeric(series, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            self.known = ~np.isnan(self.values)


class _Text:
    """Normalised codes: ``codes[i]`` indexes ``uniques`` (-1 = missing)."""

    def __init__(self, series: pd.Series) -> None:
        if isinstance(series.dtype, pd.CategoricalDtype):
            raw_codes = series.cat.codes.to_numpy()
            raw = list(series.cat.categories)
        else:
            raw_codes, raw_index = pd.factorize(series, use_na_sentinel=True)
            raw = list(raw_index)
        normal = [normalize_text(v) for v in raw]
        merged, uniques = pd.factorize(np.array(normal, dtype=object))
        remap = np.append(merged, -1).astype(np.int64)  # raw code -1 stays -1
        self.codes = remap[raw_codes]
        self.uniques: list[str] = list(uniques)
        self.lookup = {u: i for i, u in enumerate(self.uniques)}

    def table(self, test: Any) -> np.ndarray:
        """Mask over ``uniques`` (plus a False slot read by missing rows) → mask over rows."""
        hits = np.fromiter((bool(test(u)) for u in self.uniques), bool, len(self.uniques))
        return np.append(hits, False)[self.codes]

    def isin(self, values: Iterable[Any]) -> np.ndarray:
        hits = np.zeros(len(self.uniques) + 1, bool)
        for v in values:
            code = self.lookup.get(normalize_text(v))
            if code is not None:
                hits[code] = True
        return hits[self.codes]


class _Tags:
    """Tag postings: the rows holding each tag code (CSC layout of a rows × tags matrix)."""

    def __init__(self, series: pd.Series) -> None:
        values = series.to_numpy(dtype=object)
        n = len(values)
        present = ~pd.isna(values)  # None / NaN: no tags
        lists = values if present.all() else values[present]
        if not set(map(type, lists)) <= {list, tuple, set, np.ndarray}:
            # a lone string is one tag; anything else that is not a list, no tags
            cleaned = np.empty(len(lists), dtype=object)
            for i, v in enumerate(lists):
                listish = isinstance(v, list | tuple | set | np.ndarray)
                cleaned[i] = [v] if isinstance(v, str) else v if listish else ()
            lists = cleaned
        sizes = np.fromiter(map(len, lists), np.int64, len(lists))
        lengths = np.zeros(n, np.int64)
        lengths[present] = sizes
        flat = np.fromiter(itertools.chain.from_iterable(lists), object, int(sizes.sum()))
        raw_codes, raw = pd.factorize(flat)
        merged, uniques = pd.factorize(np.array([normalize_text(t) for t in raw], dtype=object))
        codes = merged[raw_codes] if len(raw_codes) else raw_codes.astype(np.int64)
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        # postings: rows grouped by tag; a stable sort keeps each tag's rows ascending, and
        # 16-bit codes (any real vocabulary) make it a radix sort
        small = codes.astype(np.int16) if len(uniques) < 2**15 else codes
        order = np.argsort(small, kind="stable")
        codes, rows = codes[order], rows[order]
        if len(codes) > 1:  # the same tag twice on one row counts once
            keep = np.ones(len(codes), bool)
            keep[1:] = (codes[1:] != codes[:-1]) | (rows[1:] != rows[:-1])
            codes, rows = codes[keep], rows[keep]
        self.n = n
        self.count = lengths
        self.rows = rows
        self.indptr = np.searchsorted(codes, np.arange(len(uniques) + 1))
        self.lookup = {u: i for i, u in enumerate(uniques)}

    def hits(self, tags: Iterable[Any]) -> tuple[np.ndarray, int]:
        """Rows holding each wanted tag (concatenated) and how many distinct tags were wanted."""
        wanted = {normalize_text(t) for t in tags}
        codes = [self.lookup[t] for t in wanted if t in self.lookup]
        parts = [self.rows[self.indptr[c] : self.indptr[c + 1]] for c in codes]
        return (np.concatenate(parts) if parts else np.empty(0, np.int64)), len(wanted)

    def has_any(self, tags: Iterable[Any]) -> np.ndarray:
        mask = np.zeros(self.n, bool)
        mask[self.hits(tags)[0]] = True
        return mask

    def has_all(self, tags: Iterable[Any]) -> np.ndarray:
        rows, k = self.hits(tags)
        return np.bincount(rows, minlength=self.n) == k


class _Times:
    """Datetimes as int64 nanoseconds (UTC) or dates as int64 days since 1970-01-01."""

    def __init__(self, series: pd.Series, kind: str) -> None:
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = pd.to_datetime(series, errors="coerce", utc=kind == "datetime")
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        arr = series.to_numpy().astype("datetime64[ns]")
        self.known = ~np.isnat(arr)
        self.kind = kind
        self.ns = arr.view(np.int64)
        self.values = self.ns if kind == "datetime" else arr.astype("datetime64[D]").view(np.int64)
        self._md: np.ndarray | None = None

    def month_day(self) -> np.ndarray:
        """``month * 32 + day`` per row, -1 when missing (for birthdays)."""
        if self._md is None:
            index = pd.DatetimeIndex(self.ns.view("datetime64[ns]"))
            md = np.where(self.known, index.month * 32 + index.day, -1)
            self._md = md.astype(np.int16)
        return self._md


def _as_of(as_of: Any) -> tuple[pd.Timestamp, dt.date]:
    """The instant relative windows end at, and the calendar day date columns count from.

    The instant is :func:`crm.asof.as_instant` in UTC: a bare date is the end of that day, a
    naive datetime is UTC wall-clock time. The day is the date as written (an aware
    datetime's date in its own zone), so a local ``as_of`` gives local birthdays.
    """
    try:
        ts = as_instant(as_of)
    except AsOfError:
        raise InvalidParameterError(
            "as_of", as_of, "a date, a datetime or ISO 8601 text (YYYY-MM-DD)"
        ) from None
    if isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime):
        return ts, as_of
    return ts, pd.Timestamp(as_of).date()


def _birthday_table(day: dt.date, start: int, days: int) -> np.ndarray:
    table = np.zeros(_MD_SLOTS, bool)
    for i in range(min(days, 366)):
        d = day + dt.timedelta(days=start + i)
        table[d.month * 32 + d.day] = True
        if d.month == 2 and d.day == 28 and not calendar.isleap(d.year):
            table[2 * 32 + 29] = True  # born on 29 February: 28 February in common years
    return table


class PreparedProfiles:
    """A profiles frame with per-field preparations cached, for evaluating many segments.

    Preparing a field costs one pass over it (normalising text to codes, tag postings,
    datetimes to integers); every later condition on the field is a numpy operation on those
    arrays. :func:`evaluate`, :func:`evaluate_many` and :func:`preview` build one from a plain
    frame; build it yourself to reuse the preparations across calls (a preview screen).

    Parameters
    ----------
    profiles : DataFrame
        One row per customer.
    categories : mapping, optional
        Allowed values per field, passed to :func:`schema_from_frame`.
    id_col : str, default ``"customer_id"``
        Column of customer ids (the index is used when there is no such column).
    """

    def __init__(
        self,
        profiles: pd.DataFrame,
        categories: Mapping[str, Iterable[str]] | None = None,
        id_col: str = CUSTOMER_ID,
    ) -> None:
        self.frame = profiles
        self.id_col = id_col
        self.schema: Mapping[str, FieldSpec] = _FrameSchema(profiles, categories)
        ids = profiles[id_col] if id_col in profiles.columns else profiles.index.to_series()
        self.ids = ids.to_numpy()
        self.n = len(profiles)
        self._prepared: dict[str, Any] = {}

    def column(self, name: str) -> Any:
        """The cached preparation of a field."""
        prepared = self._prepared.get(name)
        if prepared is None:
            if name not in self.frame.columns:
                raise MissingColumnsError([name], "profiles")
            kind = self.schema[name].kind
            series = self.frame[name]
            if kind in ("number", "integer", "bool"):
                prepared = _Numbers(series, kind)
            elif kind in _TEXT:
                prepared = _Text(series)
            elif kind == "tags":
                prepared = _Tags(series)
            else:
                prepared = _Times(series, kind)
            self._prepared[name] = prepared
        return prepared

    def _time_value(self, kind: str, value: Any) -> int:
        ts = pd.Timestamp(value)
        if kind == "date":
            return int(np.datetime64(ts.date(), "D").astype(np.int64))
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return int(ts.as_unit("ns").value)

    def mask(self, cond: Condition, as_of: Any) -> np.ndarray:
        """Boolean mask of the rows satisfying one condition (see the module notes)."""
        kind = self.schema[cond.field].kind if cond.field in self.schema else None
        if kind is None:
            raise MissingColumnsError([cond.field], "profiles")
        col = self.column(cond.field)
        op, value = cond.op, cond.value
        if op in _FLAG_OPS:
            known = col.count > 0 if kind == "tags" else _known(col)
            return ~known if (op == "is_null") == bool(value) else known.copy()
        if kind == "tags":
            items = value if isinstance(value, tuple | list) else (value,)
            if op == "has_all":
                return col.has_all(items)
            hit = col.has_any(items)
            return ~hit if op == "has_none" else hit
        if kind in _TEXT:
            return _text_mask(col, op, value)
        if op in _WINDOW_OPS:
            return self._window_mask(col, op, value, as_of)
        if kind in _TIME:
            value = (
                tuple(self._time_value(kind, v) for v in value)
                if isinstance(value, tuple | list)
                else self._time_value(kind, value)
            )
        elif kind == "bool":
            value = tuple(float(v) for v in value) if isinstance(value, tuple) else float(value)
        return _compare(col.values, col.known, op, value)

    def _window_mask(self, col: _Times, op: str, value: Any, as_of: Any) -> np.ndarray:
        window = _parse_window(value)
        if window is None:  # validated while parsing; a hand-built Condition may still be bad
            raise InvalidParameterError(op, value, "a window such as '90 days'")
        ts, day = _as_of(as_of)
        if op.startswith("birthday"):
            if op == "birthday_within_next":
                table = _birthday_table(day, 0, window.days_from(day, +1))
            else:
                n = window.days_from(day, -1)
                table = _birthday_table(day, 1 - n, n)
            return table[col.month_day()]
        if col.kind == "date":
            now = int(np.datetime64(day, "D").astype(np.int64))
            back = now - window.days_from(day, -1)
            ahead = now + window.days_from(day, +1)
        else:
            now = int(ts.as_unit("ns").value)
            back = int((ts - window.offset()).as_unit("ns").value)
            ahead = int((ts + window.offset()).as_unit("ns").value)
        v, known = col.values, col.known
        if op == "within_last":
            return known & (v > back) & (v <= now)
        if op == "not_within_last":
            return known & ((v <= back) | (v > now))
        if op == "older_than":
            return known & (v <= back)
        return known & (v >= now) & (v < ahead)  # within_next


def _known(col: Any) -> np.ndarray:
    if isinstance(col, _Text):
        return col.codes >= 0
    return col.known


def _text_mask(col: _Text, op: str, value: Any) -> np.ndarray:
    if op in ("eq", "in"):
        return col.isin(value if isinstance(value, tuple | list) else (value,))
    if op in ("ne", "not_in"):
        hit = col.isin(value if isinstance(value, tuple | list) else (value,))
        return ~hit & (col.codes >= 0)
    needle = normalize_text(value)
    if op == "contains":
        return col.table(lambda u: needle in u)
    return col.table(lambda u: u.startswith(needle))  # starts_with


def _compare(values: np.ndarray, known: np.ndarray, op: str, value: Any) -> np.ndarray:
    if op == "eq":
        return known & (values == value)
    if op == "ne":
        return known & (values != value)
    if op == "gt":
        return known & (values > value)
    if op == "gte":
        return known & (values >= value)
    if op == "lt":
        return known & (values < value)
    if op == "lte":
        return known & (values <= value)
    if op == "between":
        lo, hi = value
        return known & (values >= lo) & (values <= hi)
    hit = np.isin(values, np.asarray(value))
    return known & (hit if op == "in" else ~hit)


def _prepared(profiles: pd.DataFrame | PreparedProfiles) -> PreparedProfiles:
    return profiles if isinstance(profiles, PreparedProfiles) else PreparedProfiles(profiles)


class _Evaluator:
    """Evaluates condition trees for one ``as_of``, sharing identical conditions' masks."""

    def __init__(self, prepared: PreparedProfiles, as_of: Any, cache_bytes: int = 256 << 20):
        self.prepared = prepared
        self.as_of = as_of
        _as_of(as_of)  # refuse a naive datetime before any work
        self.cache: dict[tuple[str, str, Any], np.ndarray] = {}
        self.limit = max(cache_bytes // max(prepared.n, 1), 8)

    def __call__(self, node: Condition | Group) -> np.ndarray:
        if isinstance(node, Condition):
            value = tuple(node.value) if isinstance(node.value, list) else node.value
            key = (node.field, node.op, value)
            mask = self.cache.get(key)
            if mask is None:
                mask = self.prepared.mask(node, self.as_of)
                if len(self.cache) < self.limit:
                    self.cache[key] = mask
            return mask
        masks = [self(item) for item in node.items]
        if node.op == "not":
            return ~masks[0]
        if len(masks) == 1:
            return masks[0]
        combine = np.logical_and if node.op == "all" else np.logical_or
        out = combine(masks[0], masks[1])
        for mask in masks[2:]:
            combine(out, mask, out=out)
        return out


def evaluate(
    definition: SegmentDefinition, profiles: pd.DataFrame | PreparedProfiles, as_of: Any
) -> pd.Index:
    """Customer ids of the members of one segment.

    Parameters
    ----------
    definition : SegmentDefinition
    profiles : DataFrame or PreparedProfiles
        One row per customer with the fields the definition reads.
    as_of : aware datetime or date
        The moment relative windows are computed against.

    Returns
    -------
    Index
        Member ids (``customer_id`` column, or the index), in frame order.

    Raises
    ------
    SegmentDefinitionError
        When the definition does not fit the frame's schema (see :func:`validate`).
    """
    prepared = _prepared(profiles)
    validate([definition], prepared.schema)
    mask = _Evaluator(prepared, as_of)(definition.where)
    return pd.Index(prepared.ids[mask], name=prepared.id_col)


def evaluate_many(
    definitions: Sequence[SegmentDefinition],
    profiles: pd.DataFrame | PreparedProfiles,
    as_of: Any,
) -> pd.DataFrame:
    """Memberships of several segments, as one long frame.

    Fields are prepared once and identical conditions shared between segments, so 100
    segments over 1M profiles take about a second (``bench/results/segments.md``).

    Returns
    -------
    DataFrame
        ``segment`` (categorical, in definition order) and ``customer_id`` (the id column's
        name), one row per member, in definition order then frame order.
    """
    prepared = _prepared(profiles)
    validate(definitions, prepared.schema)
    run = _Evaluator(prepared, as_of)
    names = [d.name for d in definitions]
    ids, sizes = [], []
    for definition in definitions:
        positions = np.flatnonzero(run(definition.where))
        ids.append(prepared.ids[positions])
        sizes.append(len(positions))
    segment = pd.Categorical.from_codes(
        np.repeat(np.arange(len(names), dtype=np.int32), sizes), dtype=pd.CategoricalDtype(names)
    )
    all_ids = np.concatenate(ids) if ids else prepared.ids[:0]
    return pd.DataFrame({"segment": segment, prepared.id_col: all_ids})


def preview(
    definition: SegmentDefinition,
    profiles: pd.DataFrame | PreparedProfiles,
    as_of: Any,
    sample: int = 10,
    seed: int = 0,
) -> tuple[int, pd.DataFrame]:
    """How many customers a segment holds and a seeded random sample of their profiles.

    Parameters
    ----------
    sample : int, default 10
        Rows in the sample (all members when fewer).
    seed : int, default 0
        The same seed gives the same sample of the same frame.

    Returns
    -------
    (int, DataFrame)
        Member count, and the sampled profile rows in frame order.
    """
    prepared = _prepared(profiles)
    validate([definition], prepared.schema)
    positions = np.flatnonzero(_Evaluator(prepared, as_of)(definition.where))
    if sample < 0:
        raise InvalidParameterError("sample", sample, "a count >= 0")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(positions, size=min(sample, len(positions)), replace=False))
    return len(positions), prepared.frame.iloc[chosen]
