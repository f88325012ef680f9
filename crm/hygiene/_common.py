"""Shared helpers of the hygiene package: per-distinct mapping and vocabulary files.

Parsers such as ``phonenumbers`` and ``email-validator`` work on one value at a time.
A CRM column has far fewer distinct values than rows, so every such parser here runs
once per distinct value (:func:`map_distinct`) and the results are spread back to the
rows with one ``take`` per output column.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from crm.hygiene.errors import MissingColumnError, VocabularyError

__all__ = [
    "fold",
    "map_distinct",
    "read_list",
    "read_table",
    "require",
    "to_text",
]


def to_text(values: pd.Series | Sequence[Any]) -> pd.Series:
    """``values`` as a string Series: NFC-normalised, stripped, blanks as missing."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="object")
    s = s.astype("str").str.strip()
    # unicodedata is per value; run it on distinct values that are not plain ASCII only
    nonascii = s.notna() & ~s.str.isascii()
    if nonascii.any():
        uniq = pd.unique(s[nonascii])
        nfc = {u: unicodedata.normalize("NFC", u) for u in uniq}
        s = s.copy()
        s[nonascii] = s[nonascii].map(nfc)
    return s.mask(s == "")


def fold(values: pd.Series) -> pd.Series:
    """Lower-case and fold ``ё`` to ``е`` (the comparison form of Russian text)."""
    return values.str.lower().str.replace("ё", "е", regex=False)


def map_distinct(
    values: pd.Series, func: Callable[[str], tuple[Any, ...]], columns: Sequence[str]
) -> pd.DataFrame:
    """Apply ``func`` once per distinct non-missing value and spread the results to every row.

    Parameters
    ----------
    values : pandas.Series
        Text values (missing values give a row of missing results).
    func : callable
        Takes one value, returns a tuple with one item per name in ``columns``.
    columns : sequence of str
        Names of the result columns.

    Returns
    -------
    pandas.DataFrame
        One row per row of ``values``, same index, object columns.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    width = len(columns)
    results = [func(u) for u in uniques]
    results.append((None,) * width)  # the row that missing values (code -1) point at
    table = np.empty((len(results), width), dtype=object)
    for i, row in enumerate(results):
        table[i, :] = row
    idx = np.where(codes < 0, len(results) - 1, codes)
    taken = table[idx]
    return pd.DataFrame({c: taken[:, j] for j, c in enumerate(columns)}, index=values.index)


def require(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise :class:`MissingColumnError` for the first of ``columns`` that ``frame`` lacks."""
    for col in columns:
        if col not in frame.columns:
            raise MissingColumnError(col, where)


def _data_text(name: str) -> str:
    return (
        resources.files("crm.hygiene").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    )


@cache
def read_list(name: str) -> frozenset[str]:
    """A one-entry-per-line vocabulary file from ``crm/hygiene/data`` (``#`` starts a comment)."""
    items = set()
    for line in _data_text(name).splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            items.add(unicodedata.normalize("NFC", entry).lower())
    return frozenset(items)


@cache
def read_table(name: str, width: int) -> tuple[tuple[str, ...], ...]:
    """A tab-separated vocabulary file with ``width`` fields per line (header line skipped)."""
    rows = []
    lines = _data_text(name).splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = tuple(unicodedata.normalize("NFC", f.strip()) for f in line.split("\t"))
        if len(fields) != width:
            raise VocabularyError(
                name, number, f"expected {width} tab-separated fields, got {len(fields)}"
            )
        rows.append(fields)
    return tuple(rows)
