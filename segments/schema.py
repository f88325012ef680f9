"""A profile schema inferred from a frame: each column's kind (number, text, tags, dates…).

:func:`schema_from_frame` reads the dtypes (and, for object columns, the first values) of a
profiles frame, so a segments file can be checked against the profiles it will run on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from segments.language import FieldSpec

__all__ = ["schema_from_frame"]

_NS_PER_DAY = 86_400 * 10**9


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _first_values(series: pd.Series, k: int = 50) -> list[Any]:
    positions = np.flatnonzero(series.notna().to_numpy())[:k]
    return list(series.iloc[positions].to_numpy(dtype=object))


def _kind_of(series: pd.Series) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            return "datetime"
        ns = series.dropna().to_numpy().astype("datetime64[ns]").view("int64")
        return "date" if len(ns) and not (ns % _NS_PER_DAY).any() else "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    sample = _first_values(series)
    if not sample:
        return "string"
    listish = [isinstance(v, list | tuple | set | np.ndarray) for v in sample]
    if any(listish) and all(
        ok or isinstance(v, str) for ok, v in zip(listish, sample, strict=True)
    ):
        return "tags"  # lists of tags, perhaps with a lone tag written as a string
    if all(isinstance(v, bool | np.bool_) for v in sample):
        return "bool"
    if all(isinstance(v, dt.datetime) for v in sample):
        return "datetime"
    if all(isinstance(v, dt.date) for v in sample):
        return "date"
    if all(_is_number(v) for v in sample):
        return "number"
    return "string"


def schema_from_frame(
    frame: pd.DataFrame, categories: Mapping[str, Iterable[str]] | None = None
) -> dict[str, FieldSpec]:
    """Derive a schema (field → :class:`FieldSpec`) from a profiles frame's dtypes.

    Parameters
    ----------
    frame : DataFrame
        Profiles, one row per customer.
    categories : mapping, optional
        Field → allowed values. Makes a text field a ``category`` with those values (e.g.
        ``{"rfm_segment": SEGMENTS}``), or sets the vocabulary of a ``tags`` field.

    Returns
    -------
    dict of str to FieldSpec
        ``category`` dtype → category with its categories; bool → bool; integer → integer;
        float → number; tz-aware datetime → datetime; naive datetime at midnight → date,
        otherwise datetime; object columns by their values: lists → tags, ``datetime.date``
        → date, ``datetime`` → datetime, numbers → number, text → string.
    """
    return dict(_FrameSchema(frame, categories))


class _FrameSchema(Mapping[str, FieldSpec]):
    """:func:`schema_from_frame` computed field by field on first access (cheap previews)."""

    def __init__(
        self, frame: pd.DataFrame, categories: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.frame = frame
        self.categories = categories or {}
        self.names = [str(c) for c in frame.columns]
        self._known: dict[str, FieldSpec] = {}

    def __getitem__(self, name: str) -> FieldSpec:
        spec = self._known.get(name)
        if spec is None:
            if name not in self.frame.columns:
                raise KeyError(name)
            series = self.frame[name]
            kind = _kind_of(series)
            values: tuple[str, ...] | None = None
            if kind == "category":
                values = tuple(str(v) for v in series.cat.categories)
            if name in self.categories:
                values = tuple(str(v) for v in self.categories[name])
                if kind not in ("tags", "category"):
                    kind = "category"
            spec = self._known[name] = FieldSpec(kind, values)
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.frame.columns
